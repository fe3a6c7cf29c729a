//! Switchboard binary. Minimal CLI wiring for the simulator; the full CLI lives on main.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "switchboard")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Fanvue simulator.
    Sim(switchboard::sim::SimArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => switchboard::sim::run_cli(args).await,
    }
}
