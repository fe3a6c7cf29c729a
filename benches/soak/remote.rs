//! The simulator as the soak runs it: a standalone `switchboard sim` process with the
//! soak's scenario, driven and read only through its control API (faults, activity, tokens,
//! webhook endpoints, the delivery log, the ground truth), as any Fanvue peer would be.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use switchboard::sim::SimConfig;
use switchboard::sim::faults::FaultsPatch;
use uuid::Uuid;

pub struct RemoteSim {
    child: Option<Child>,
    http: reqwest::Client,
    control: String,
    pub chats_at_start: usize,
    pub messages_at_start: usize,
    pub client_id: String,
    pub client_secret: String,
    pub base_url: String,
    pub api_base_url: String,
    pub api_version: String,
    pub webhook_secret: String,
    pub creators: Vec<Uuid>,
    pub team_members: Vec<Uuid>,
}

/// What the soak reads of the simulator's request counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rate_limited: u64,
    pub injected_errors: u64,
    pub webhooks_pending: u64,
}

/// One logged delivery attempt.
pub struct Delivery {
    pub event_id: String,
    pub event: String,
    pub outcome: String,
    pub status: Option<u64>,
    pub body: String,
}

pub struct Token {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: i64,
    pub scope: String,
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("simulator info lacks {key}"))
}

fn uuids(v: &Value) -> Vec<Uuid> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["uuid"].as_str()?.parse().ok())
        .collect()
}

impl RemoteSim {
    /// Writes `cfg` as the scenario file and starts `switchboard sim` on `cfg.port`, with
    /// its output in `log`; returns once the control API answers.
    pub async fn start(cfg: &SimConfig, dir: &Path, log: &Path) -> anyhow::Result<RemoteSim> {
        let scenario = dir.join("simulator.json");
        std::fs::write(&scenario, serde_json::to_vec_pretty(cfg)?)?;
        let out = std::fs::File::create(log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("sim")
            .arg("--scenario")
            .arg(&scenario)
            .arg("--host")
            .arg(&cfg.host)
            .arg("--port")
            .arg(cfg.port.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("spawn switchboard sim")?;
        let control = format!("http://{}:{}{}", cfg.host, cfg.port, cfg.control_prefix);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        let mut sim = RemoteSim {
            child: Some(child),
            http,
            control,
            chats_at_start: 0,
            messages_at_start: 0,
            client_id: String::new(),
            client_secret: String::new(),
            base_url: String::new(),
            api_base_url: String::new(),
            api_version: String::new(),
            webhook_secret: String::new(),
            creators: Vec::new(),
            team_members: Vec::new(),
        };
        let t = Instant::now();
        let info = loop {
            if let Some(c) = sim.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!(
                    "switchboard sim exited with {status}; see {}",
                    log.display()
                );
            }
            match sim.http.get(format!("{}/info", sim.control)).send().await {
                Ok(r) if r.status().is_success() => break r.json::<Value>().await?,
                _ if t.elapsed() > Duration::from_secs(120) => {
                    bail!("switchboard sim did not answer; see {}", log.display())
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        sim.client_id = text(&info, "clientId")?;
        sim.client_secret = text(&info, "clientSecret")?;
        sim.base_url = text(&info, "baseUrl")?;
        sim.api_base_url = text(&info, "apiBaseUrl")?;
        sim.api_version = text(&info, "apiVersion")?;
        sim.webhook_secret = text(&info, "webhookSecret")?;
        sim.creators = uuids(&info["creators"]);
        sim.team_members = uuids(&info["teamMembers"]);
        sim.chats_at_start = info["chats"].as_u64().unwrap_or(0) as usize;
        sim.messages_at_start = info["messages"].as_u64().unwrap_or(0) as usize;
        Ok(sim)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let r = req.send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        if !status.is_success() {
            bail!(
                "simulator control answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)?
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.control)
    }

    pub async fn stats(&self) -> anyhow::Result<Stats> {
        let v = self.call(self.http.get(self.url("/stats"))).await?;
        Ok(Stats {
            rate_limited: v["rateLimited"].as_u64().unwrap_or(0),
            injected_errors: v["injectedErrors"].as_u64().unwrap_or(0),
            webhooks_pending: v["webhooksPending"].as_u64().unwrap_or(0),
        })
    }

    pub async fn patch_faults(&self, p: &FaultsPatch) -> anyhow::Result<()> {
        self.call(self.http.post(self.url("/faults")).json(p))
            .await?;
        Ok(())
    }

    /// Every fault off.
    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        let none = switchboard::sim::faults::Faults::default();
        self.call(self.http.put(self.url("/faults")).json(&none))
            .await?;
        Ok(())
    }

    /// `n` events of fan activity; returns how many happened.
    pub async fn generate_activity(&self, n: usize) -> anyhow::Result<usize> {
        self.handle().generate_activity(n).await
    }

    /// What the load task needs to drive activity from its own task.
    pub fn handle(&self) -> Activity {
        Activity {
            http: self.http.clone(),
            url: self.url("/activity"),
        }
    }

    /// Revokes every grant of `who` (uuid or handle); returns how many.
    pub async fn revoke_tokens(&self, who: &str) -> anyhow::Result<u64> {
        let v = self
            .call(
                self.http
                    .post(self.url("/oauth/revoke"))
                    .json(&json!({ "user": who })),
            )
            .await?;
        Ok(v["revokedGrants"].as_u64().unwrap_or(0))
    }

    pub async fn issue_token(&self, who: &str, scopes: &[&str]) -> anyhow::Result<Token> {
        let v = self
            .call(
                self.http
                    .post(self.url("/oauth/tokens"))
                    .json(&json!({ "user": who, "scopes": scopes })),
            )
            .await?;
        Ok(Token {
            access_token: text(&v, "access_token")?,
            refresh_token: v["refresh_token"].as_str().map(str::to_owned),
            expires_in: v["expires_in"].as_i64().unwrap_or(3600),
            scope: v["scope"].as_str().unwrap_or_default().to_owned(),
        })
    }

    pub async fn register_webhook(&self, url: &str, events: &[&str]) -> anyhow::Result<()> {
        self.call(
            self.http
                .post(self.url("/webhooks/endpoints"))
                .json(&json!({ "url": url, "events": events })),
        )
        .await?;
        Ok(())
    }

    pub async fn deliveries(&self) -> anyhow::Result<Vec<Delivery>> {
        let v = self
            .call(self.http.get(self.url("/webhooks/deliveries")))
            .await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|d| Delivery {
                event_id: d["eventId"].as_str().unwrap_or_default().to_owned(),
                event: d["event"].as_str().unwrap_or_default().to_owned(),
                outcome: d["outcome"].as_str().unwrap_or_default().to_owned(),
                status: d["status"].as_u64(),
                body: d["body"].as_str().unwrap_or_default().to_owned(),
            })
            .collect())
    }

    /// Every message a fan sent (`GET {control}/truth/fan-messages`).
    pub async fn fan_messages(&self) -> anyhow::Result<Vec<Uuid>> {
        let v = self
            .call(self.http.get(self.url("/truth/fan-messages")))
            .await?;
        Ok(serde_json::from_value(v)?)
    }

    /// The ground truth (`GET {control}/truth`).
    pub async fn truth(&self) -> anyhow::Result<Value> {
        self.call(self.http.get(self.url("/truth"))).await
    }

    /// Stops the process (at the end of the run, or when the soak fails).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RemoteSim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drives fan activity on the simulator (`POST {control}/activity`).
#[derive(Clone)]
pub struct Activity {
    http: reqwest::Client,
    url: String,
}

impl Activity {
    pub async fn generate_activity(&self, n: usize) -> anyhow::Result<usize> {
        let r = self
            .http
            .post(&self.url)
            .json(&json!({ "count": n }))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("simulator activity answered {}", r.status());
        }
        let v: Value = r.json().await?;
        Ok(v["events"].as_u64().unwrap_or(0) as usize)
    }
}
