//! The `switchboard` binary: command-line parsing only. Everything it runs
//! lives in the library.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use switchboard::config::Settings;
use switchboard::startup::{self, Application};
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
            let stop = startup::stop_signal()?;
            let app = Application::build(settings.clone()).await?;
            let running = app.start(&startup::instance_name());
            tracing::info!(port = running.port(), public_url = %settings.public_url, "switchboard listening");
            running.run_until(stop).await?;
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
