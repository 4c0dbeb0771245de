//! The `plaza` command: `plaza serve` runs the server until SIGTERM or ctrl-c; `migrate`,
//! `export` and `import` work on the configured store; `drain` empties a running node. Logs go to standard error, so that
//! `plaza export` can write its document to standard output.

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
    /// Write a space (objects, chat, members, model metadata) as JSON to standard output.
    Export {
        /// The space's name.
        #[arg(long)]
        space: String,
        /// Configuration file (default: ./plaza.toml if it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Drain the node running with this configuration (`POST /api/admin/drain` on its
    /// `listen` address with its `admin_token`): its spaces go to other nodes of the
    /// cluster; stop it afterwards.
    Drain {
        /// Configuration file (default: ./plaza.toml if it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Create a space from a `plaza export` document in the configured store.
    Import {
        /// The document (`-` for standard input).
        file: PathBuf,
        /// Delete a space of the same name first.
        #[arg(long)]
        replace: bool,
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
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Cmd::Export { space, config } => runtime.block_on(export(config, space)),
        Cmd::Drain { config } => runtime.block_on(drain(config)),
        Cmd::Import {
            file,
            replace,
            config,
        } => runtime.block_on(import(config, file, replace)),
    }
}

async fn drain(config: Option<PathBuf>) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = Config::load(config.as_deref())?;
    let token = config
        .admin_token
        .as_ref()
        .context("admin_token is not set: the admin API (and so draining) is off")?;
    let addr = config.listen;
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("no node answers at {addr} (the listen address)"))?;
    let request = format!(
        "POST /api/admin/drain HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\n\r\n",
        token.expose()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let ok = head.split_whitespace().nth(1) == Some("200");
    println!("{body}");
    anyhow::ensure!(
        ok,
        "the node refused: {}",
        head.lines().next().unwrap_or_default()
    );
    Ok(())
}

async fn export(config: Option<PathBuf>, space: String) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    let store = plaza::store::Store::open(&config).await?;
    let doc = plaza::ops::transfer::export(&store.durable, &space).await?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &doc).context("cannot write to standard output")?;
    std::io::Write::write_all(&mut out, b"\n").context("cannot write to standard output")?;
    tracing::info!(
        space = %doc.space.name,
        objects = doc.objects.len(),
        chat = doc.chat.len(),
        models = doc.models.len(),
        "exported"
    );
    Ok(())
}

async fn import(config: Option<PathBuf>, file: PathBuf, replace: bool) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let doc: plaza::ops::transfer::SpaceExport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a plaza export document", file.display()))?;
    let store = plaza::store::Store::open(&config).await?;
    let result =
        plaza::ops::transfer::import(&store.durable, &doc, replace, config.max_batch_rows).await;
    store.close().await;
    let done = result?;
    tracing::info!(
        space = %doc.space.name,
        id = %done.space,
        objects = done.objects,
        chat = done.chat,
        models = done.models,
        store = store.durable.kind(),
        "imported"
    );
    Ok(())
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
