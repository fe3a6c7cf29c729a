//! The `switchboard` binary: command-line parsing only. Everything it runs
//! lives in the library.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use switchboard::config::Settings;
use switchboard::startup::{Application, spawn_maintenance};
use switchboard::{bootstrap, store, telemetry};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Multi-tenant CRM for agencies running creators' Fanvue accounts"
)]
struct Cli {
    /// A TOML configuration file (default: ./switchboard.toml if present,
    /// or the file named by SWITCHBOARD_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server.
    Serve,
    /// Create the database if needed and apply migrations, then exit.
    Migrate,
    /// Create an agency and its owner. The password is read from the
    /// SWITCHBOARD_ADMIN_PASSWORD environment variable, else from stdin.
    CreateAdmin {
        /// The agency's name.
        #[arg(long)]
        agency: String,
        /// The owner's email (their login).
        #[arg(long)]
        email: String,
        /// The owner's display name.
        #[arg(long)]
        name: String,
        /// Exit successfully without changes if this email already has an
        /// account (for idempotent set-up scripts).
        #[arg(long)]
        skip_if_exists: bool,
    },
    /// Run the Fanvue simulator (for demos and tests; needs no database).
    Sim(switchboard::sim::SimArgs),
    /// Run a complete demo: the simulator, a demo agency with its staff,
    /// connected creators, live activity. Needs only Postgres.
    Demo(switchboard::demo::DemoArgs),
}

fn read_password() -> anyhow::Result<SecretString> {
    if let Ok(pw) = std::env::var("SWITCHBOARD_ADMIN_PASSWORD") {
        return Ok(pw.into());
    }
    if std::io::stdin().is_terminal() {
        let pw = rpassword::prompt_password("Owner password: ")?;
        let again = rpassword::prompt_password("Repeat password: ")?;
        anyhow::ensure!(pw == again, "the two passwords differ");
        return Ok(pw.into());
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned().into())
}

/// A label for this instance's sync workers (lease owners).
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchboard".to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A local .env is a convenience for development; real deployments set
    // the environment directly.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The simulator stands alone: it needs no database and no secrets.
    let command = match cli.command {
        Command::Sim(args) => {
            telemetry::init(switchboard::config::LogFormat::Text, "info");
            return switchboard::sim::run_cli(args).await;
        }
        Command::Demo(args) => return switchboard::demo::run(args, cli.config.as_deref()).await,
        other => other,
    };
    let settings = Settings::load(cli.config.as_deref()).context("invalid configuration")?;
    telemetry::init(settings.log_format, &settings.log_filter);

    match command {
        Command::Serve => {
            let app = Application::build(settings.clone()).await?;
            tracing::info!(port = app.port(), public_url = %settings.public_url, "switchboard listening");
            let (stop_workers, shutdown_rx) = tokio::sync::watch::channel(false);
            let mut workers = if settings.sync.enabled {
                let instance = format!("{}-{}", hostname(), std::process::id());
                switchboard::sync::spawn_workers(
                    app.sync_engine(),
                    settings.sync.workers,
                    &instance,
                    shutdown_rx.clone(),
                )
            } else {
                Vec::new()
            };
            if settings.webhooks.enabled {
                workers.extend(switchboard::webhooks::process::spawn_workers(
                    app.pool().clone(),
                    settings.webhooks.clone(),
                    shutdown_rx.clone(),
                ));
            }
            let maintenance = spawn_maintenance(app.pool().clone(), Arc::new(settings));
            // Serves until SIGINT/SIGTERM; then workers finish their current
            // creator and release its lease.
            let result = app.run_until_stopped().await;
            maintenance.abort();
            let _ = stop_workers.send(true);
            for w in workers {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(30), w).await;
            }
            result?;
        }
        Command::Sim(_) | Command::Demo(_) => {}
        Command::Migrate => {
            store::connect_and_migrate(settings.connect_options()?, 2).await?;
            println!("migrations applied");
        }
        Command::CreateAdmin {
            agency,
            email,
            name,
            skip_if_exists,
        } => {
            let pool = store::connect_and_migrate(settings.connect_options()?, 2).await?;
            if skip_if_exists {
                let parsed = switchboard::domain::Email::parse(&email)?;
                if store::staff::email_exists(&pool, &parsed).await? {
                    println!("{email} already has an account; nothing to create");
                    return Ok(());
                }
            }
            let password = read_password()?;
            let (agency_id, staff_id) =
                bootstrap::create_agency_with_owner(&pool, &agency, &email, &name, password)
                    .await?;
            println!("created agency {agency_id} with owner {email} (staff {staff_id})");
            println!("sign in at {}", settings.public_link("/login"));
        }
    }
    Ok(())
}
