//! The `plaza` command: `plaza serve` runs the server until SIGTERM or ctrl-c.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use plaza::{Config, Server};

/// The tick thread allocates small buffers for every client every tick; glibc's malloc
/// spent about a fifth of its time on them under load (`perf`), mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "Plaza: a server for shared 3D spaces")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server (defaults need no configuration; see README for settings).
    Serve {
        /// Configuration file (default: ./plaza.toml if it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply the database migrations (PostgreSQL with database_url, else SQLite) and exit.
    Migrate {
        /// Configuration file (default: ./plaza.toml if it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PLAZA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    match cli.command {
        Cmd::Serve { config } => runtime.block_on(serve(config)),
        Cmd::Migrate { config } => runtime.block_on(async {
            let config = Config::load(config.as_deref())?;
            let kind = plaza::store::Store::migrate(&config).await?;
            tracing::info!(store = kind, "migrations applied");
            Ok(())
        }),
    }
}

async fn serve(config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = Config::load(config_path.as_deref())?;
    let server = Server::start(config).await?;
    shutdown_signal().await?;
    tracing::info!("shutdown requested; flushing");
    let report = server.shutdown().await?;
    if report.unwritten_rows > 0 {
        anyhow::bail!(
            "{} rows could not be written before exit",
            report.unwritten_rows
        );
    }
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for ctrl-c")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
