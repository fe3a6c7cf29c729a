//! The real binary stops cleanly on SIGTERM and SIGINT, for `demo` as for
//! `serve`: a service manager or `docker stop` sends SIGTERM and waits, so a
//! process that keeps running after its HTTP server stopped would hang there
//! until SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long start-up may take before the test gives up.
const START_LIMIT: Duration = Duration::from_secs(90);
/// How long a stop may take: the server's 10 s grace plus workers finishing.
const STOP_LIMIT: Duration = Duration::from_secs(20);

fn database_url(database: &str) -> String {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// A fresh database for one run, dropped when the test ends.
struct FreshDatabase {
    name: String,
}

impl FreshDatabase {
    fn new() -> Self {
        Self {
            name: format!("sbtest_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn url(&self) -> String {
        database_url(&self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort: a leftover database is only clutter.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&database_url("postgres"))
                    .await
                    .ok()?;
                // The name is ours: `sbtest_` and a UUID's hex digits.
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Starts the binary and waits until a line of its output contains `ready`.
fn start(args: &[&str], db: &FreshDatabase, ready: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("DATABASE_URL", db.url())
        .env(
            "SWITCHBOARD_SECRET_KEY",
            "c3dpdGNoYm9hcmQtdGVzdC1rZXktMzItYnl0ZXMhISE=",
        )
        .env("SWITCHBOARD__PORT", "0")
        .env("RUST_LOG", "warn,switchboard=info")
        .env_remove("SWITCHBOARD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + START_LIMIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(ready) => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("never printed {ready:?}; output:\n{}", seen.join("\n"));
            }
        }
    }
    // Keep draining so a full pipe never blocks the process.
    std::thread::spawn(move || for _ in rx {});
    child
}

/// Sends `signal` and asserts the process exits successfully in time.
fn assert_stops_on(mut child: Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} failed");
    let sent = Instant::now();
    loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            assert!(exit.success(), "exited with {exit} after SIG{signal}");
            return;
        }
        if sent.elapsed() > STOP_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running {STOP_LIMIT:?} after SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

const DEMO: &[&str] = &[
    "demo",
    "--port",
    "0",
    "--creators",
    "1",
    "--fans",
    "3",
    "--messages",
    "3",
    "--live-rate",
    "0",
];
const DEMO_READY: &str = "Switchboard demo is running at";
const SERVE_READY: &str = "switchboard listening";

#[test]
fn demo_stops_on_sigterm() {
    let db = FreshDatabase::new();
    assert_stops_on(start(DEMO, &db, DEMO_READY), "TERM");
}

#[test]
fn demo_stops_on_sigint() {
    let db = FreshDatabase::new();
    assert_stops_on(start(DEMO, &db, DEMO_READY), "INT");
}

#[test]
fn serve_stops_on_sigterm() {
    let db = FreshDatabase::new();
    assert_stops_on(start(&["serve"], &db, SERVE_READY), "TERM");
}

#[test]
fn serve_stops_on_sigint() {
    let db = FreshDatabase::new();
    assert_stops_on(start(&["serve"], &db, SERVE_READY), "INT");
}
