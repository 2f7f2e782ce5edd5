//! The `commonboard` binary: parse settings, start logging (tokens redacted, panics
//! included), then serve until a signal (`serve`) or compact the stored history once
//! (`compact`).

use anyhow::Context;
use clap::Parser;

use commonboard_protocol::app::Role;
use commonboard_server::auth::{Claims, Signer};
use commonboard_server::config::{Cli, Command, CompactArgs, Config, ImportArgs};
use commonboard_server::export;
use commonboard_server::history::compaction;
use commonboard_server::redact::RedactingStderr;
use commonboard_server::store;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

mod allocator;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(allocator::on_idle)
        .build()
        .context("cannot start the async runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(RedactingStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    log_panics();
    match cli.command {
        Command::Serve(config) => serve(config).await,
        Command::Compact(args) => compact(args).await,
        Command::Import(args) => import(args).await,
    }
}

/// `commonboard import FILE`: a new board made of a board file; prints its id and its
/// facilitator link (a path: put the server's address before it).
async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let body: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    let imported = export::file::import(body).with_context(|| format!("cannot import {}", args.file.display()))?;
    let store = store::Handle::open(&args.store, &args.data_dir).await.context("cannot open the store")?;
    let (key, data_dir) = (args.signing_key.clone(), args.data_dir.clone());
    let signer = store
        .blocking(move |store| Signer::for_store(key.as_deref(), &data_dir, store))
        .await
        .context("no signing key")?;
    let record = imported.record;
    let written = store::committed(store.submit(imported.writes)).await.context("the store refused the board");
    store.close().await;
    written?;
    let claims = Claims {
        board: record.id.clone(),
        role: Role::Facilitator,
        identity: None,
        generation: record.links_generation,
        expires: commonboard_server::board::now_ms() / 1000 + args.link_ttl.as_secs() as i64,
        minted: false,
        presenter: false,
    };
    println!("imported \"{}\" as board {}", record.title, record.id);
    println!("facilitator link: /b/{}?token={}", record.id, signer.sign(&claims));
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    // Scripts and tests read this line to find the port.
    println!("listening on http://{addr}");
    tracing::info!(%addr, data_dir = %config.data_dir.display(), store = %config.store, open = config.open, "serving");

    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    tokio::spawn(allocator::keep_collecting());
    commonboard_server::run(listener, config, shutdown).await.context("server stopped with an error")
}

/// `commonboard compact`: one compaction pass over every board, reported on stdout.
async fn compact(args: CompactArgs) -> anyhow::Result<()> {
    let store = store::Handle::open(&args.store, &args.data_dir).await.with_context(|| match &args.store {
        store::StoreLocation::Sqlite => format!("cannot open the store in {}", args.data_dir.display()),
        location => format!("cannot open the store at {location}"),
    })?;
    let dropped = compaction::compact_all(&store, args.keep_history).await.context("compaction failed");
    // Closing waits for the writer (on the blocking pool).
    store.close().await;
    let dropped = dropped?;
    if dropped.is_empty() {
        println!("nothing to drop: no board has history older than {}", humantime::format_duration(args.keep_history));
    }
    for compacted in &dropped {
        println!("{compacted}");
    }
    Ok(())
}

/// Panics go to the log, redacted like every other line, instead of straight to
/// standard error: a panic message may quote a request.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(%location, %backtrace, "panic: {message}");
        } else {
            tracing::error!(%location, "panic: {message}");
        }
    }));
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: closing connections and saving boards");
    shutdown.cancel();
}
