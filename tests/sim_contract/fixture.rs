//! The harness every contract test starts from: a simulator with a small
//! scenario, an HTTP client that never follows redirects, and the first
//! creator's access token with every scope.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use parking_lot::Mutex;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard::sim::{self, SimConfig, SimHandle};
use uuid::Uuid;

pub const VERSION: &str = "2025-06-26";

pub const ALL_SCOPES: &[&str] = &[
    "openid",
    "offline_access",
    "read:self",
    "read:chat",
    "write:chat",
    "read:fan",
    "read:creator",
    "write:creator",
    "read:agency",
];

/// One simulator and a client speaking to it as its first creator.
pub struct SimFixture {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub creator: Uuid,
    pub token: String,
}

pub fn small() -> SimConfig {
    let mut c = SimConfig::default();
    c.scenario.creators = 2;
    c.scenario.fans_per_creator = 60;
    c.scenario.messages_per_chat = 30;
    c.scenario.uncontactable_share = 0.0;
    c.rate_limit.enabled = false;
    c.webhooks.initial_backoff_ms = 30;
    c
}

pub async fn spawn_with(cfg: SimConfig) -> SimFixture {
    let handle = sim::start(cfg).await.expect("simulator starts");
    let creator = handle.creator_uuids()[0];
    let token = handle
        .issue_token(&creator.to_string(), ALL_SCOPES)
        .expect("token")
        .access_token;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    SimFixture {
        sim: handle,
        http,
        creator,
        token,
    }
}

pub async fn spawn() -> SimFixture {
    spawn_with(small()).await
}

impl SimFixture {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.api_base_url(), path)
    }
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.get_as(path, &self.token)
    }
    pub fn get_as(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .header("X-Fanvue-API-Version", VERSION)
            .bearer_auth(token)
    }
    pub fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.post_as(path, &self.token, body)
    }
    pub fn post_as(&self, path: &str, token: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("X-Fanvue-API-Version", VERSION)
            .bearer_auth(token)
            .json(&body)
    }
    pub async fn json(&self, rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = rb.send().await.unwrap();
        let s = r.status();
        let text = r.text().await.unwrap();
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    /// GET a control-API path (`/truth`, `/info`, ...) as JSON.
    pub async fn control_json(&self, path: &str) -> Value {
        let ctl = self.sim.control_url().expect("the control API is on");
        let r = self.http.get(format!("{ctl}{path}")).send().await.unwrap();
        r.json().await.unwrap()
    }
    pub fn fans(&self) -> Vec<Uuid> {
        self.sim.fan_uuids(&self.creator)
    }
    pub async fn batch(&self, body: Value) -> (StatusCode, Value) {
        self.json(self.post("/chats/messages/batch", body)).await
    }
    /// The first creator's media library uuids (newest first).
    pub fn library(&self) -> Vec<Uuid> {
        self.sim
            .media_library(&self.creator)
            .into_iter()
            .map(|(u, _, _)| u)
            .collect()
    }
    pub async fn send_text(&self, fan: &Uuid, text: &str) -> Uuid {
        let (s, b) = self
            .json(self.post(&format!("/chats/{fan}/message"), json!({ "text": text })))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["messageUuid"].as_str().unwrap().parse().unwrap()
    }
}

pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub fn challenge(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
}

impl SimFixture {
    /// An access token for `user` (a creator or team member) with `scopes`,
    /// issued directly, without the consent flow.
    pub fn token(&self, user: Uuid, scopes: &[&str]) -> String {
        self.sim
            .issue_token(&user.to_string(), scopes)
            .expect("a known user")
            .access_token
    }

    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let ch = challenge(VERIFIER);
        let mut params = vec![
            ("client_id", self.sim.client_id()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid offline_access read:self read:chat"),
            ("state", "st4te"),
            ("code_challenge", ch.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            params.retain(|(a, _)| a != k);
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        let mut u = url::Url::parse(&self.sim.authorize_url()).unwrap();
        u.query_pairs_mut().extend_pairs(params);
        u.to_string()
    }

    pub async fn authorize(&self, extra: &[(&str, &str)]) -> (StatusCode, Option<url::Url>) {
        let r = self
            .http
            .get(self.authorize_url(extra))
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|l| url::Url::parse(l.to_str().unwrap()).unwrap());
        (r.status(), loc)
    }

    pub async fn code(&self) -> String {
        self.sim
            .set_auto_approve(Some(&self.creator.to_string()))
            .unwrap();
        let (s, loc) = self.authorize(&[]).await;
        assert_eq!(s, 302);
        let loc = loc.unwrap();
        let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st4te");
        q["code"].clone()
    }

    pub async fn token_basic(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let basic = STANDARD.encode(format!(
            "{}:{}",
            self.sim.client_id(),
            self.sim.client_secret()
        ));
        self.json(
            self.http
                .post(self.sim.token_url())
                .header("Authorization", format!("Basic {basic}"))
                .form(form),
        )
        .await
    }
}

pub type Received = Arc<Mutex<Vec<(std::collections::HashMap<String, String>, String)>>>;

/// A tiny receiving server; answers the statuses in `script` in turn, then 200.
pub async fn receiver(script: Vec<u16>) -> (String, Received, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let g = got.clone();
    let server = HttpServer::new(move || {
        let g = g.clone();
        let script = script.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let g = g.clone();
            let script = script.clone();
            async move {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                g.lock()
                    .push((headers, String::from_utf8_lossy(&body).into_owned()));
                let code = script.lock().next().unwrap_or(200);
                HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}/hooks"), got, handle)
}

pub async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn message_index(truth: &Value) -> std::collections::HashMap<String, Value> {
    let mut out = std::collections::HashMap::new();
    for c in truth["creators"].as_array().unwrap() {
        for chat in c["chats"].as_array().unwrap() {
            for m in chat["messages"].as_array().unwrap() {
                out.insert(m["uuid"].as_str().unwrap().to_string(), m.clone());
            }
        }
    }
    out
}

/// The body of every batch validation failure is exactly `{"errors":[strings]}`.
pub fn assert_errors_body(b: &Value, want: &[&str]) {
    let obj = b.as_object().expect("JSON object");
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        vec!["errors"],
        "only `errors`: {b}"
    );
    let got: Vec<&str> = b["errors"]
        .as_array()
        .expect("errors is an array")
        .iter()
        .map(|e| e.as_str().expect("string errors"))
        .collect();
    assert_eq!(got, want, "{b}");
}

pub fn keys(v: &Value) -> std::collections::BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

pub fn set(k: &[&str]) -> std::collections::BTreeSet<String> {
    k.iter().map(|s| s.to_string()).collect()
}

/// Asserts one webhook body has exactly the fields api-notes §4.4 lists for its topic.
pub fn assert_documented_payload(topic: &str, v: &Value) {
    let person = set(&["uuid", "handle", "displayName", "avatarUrl"]);
    let want = match topic {
        "message.received" => {
            assert_eq!(
                keys(&v["message"]),
                set(&[
                    "uuid",
                    "text",
                    "hasMedia",
                    "mediaUuids",
                    "price",
                    "createdAt"
                ])
            );
            assert_eq!(v["messageUuid"], v["message"]["uuid"]);
            set(&[
                "messageUuid",
                "message",
                "sender",
                "recipientUuid",
                "isMuted",
                "timestamp",
            ])
        }
        "message.read" => {
            assert!(v["readMessagesCount"].as_u64().unwrap() >= 1);
            set(&[
                "counterpartUuid",
                "readMessagesCount",
                "recipientUuid",
                "timestamp",
            ])
        }
        "purchase.new" => {
            assert!(v["price"].as_u64().unwrap() >= 300);
            set(&["routeUuid", "price", "recipientUuid", "sender", "timestamp"])
        }
        "tip.new" => {
            assert_eq!(v["senderUuid"], v["sender"]["uuid"]);
            match v["context"].as_str().unwrap() {
                "message" => set(&[
                    "context",
                    "recipientUuid",
                    "senderUuid",
                    "price",
                    "sender",
                    "timestamp",
                    "messageUuid",
                ]),
                _ => set(&[
                    "context",
                    "recipientUuid",
                    "senderUuid",
                    "price",
                    "sender",
                    "timestamp",
                    "postUuid",
                ]),
            }
        }
        "follow.new" => set(&["recipientUuid", "sender", "timestamp"]),
        "subscription.new" => {
            assert!(v["price"].is_u64());
            set(&["price", "recipientUuid", "sender", "timestamp"])
        }
        other => panic!("unexpected topic {other}"),
    };
    assert_eq!(keys(v), want, "{topic}: {v}");
    if v.get("sender").is_some() {
        assert_eq!(keys(&v["sender"]), person, "{topic}");
    }
    assert!(
        chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok(),
        "{topic}"
    );
}
