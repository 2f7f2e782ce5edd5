//! The `commonboard-load` binary: parse the command line, raise the open-files limit,
//! start the runtime, run.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use commonboard_load_tests::cli::{Cli, Command};
use commonboard_load_tests::run::WORKER_THREAD_NAME;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Thousands of connections need as many file descriptors: soft limit up to the hard one.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 11_000 => {
            eprintln!("warning: at most {limit} open files allowed; runs with more connections will fail")
        }
        Ok(_) => {}
        Err(error) => eprintln!("warning: cannot raise the open-files limit: {error}"),
    }
    let threads = match &cli.command {
        Some(Command::Run(args)) => args.output.threads,
        Some(Command::Compare(args)) => args.output.threads,
        Some(Command::Replay(args)) => args.output.threads,
        Some(Command::Soak(args)) => args.output.threads,
        _ => cli.run.output.threads,
    }
    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(WORKER_THREAD_NAME)
        .enable_all()
        .build()
        .context("cannot start the async runtime");
    let outcome = runtime.and_then(|rt| rt.block_on(commonboard_load_tests::execute(cli)));
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "error: the checks failed: replicas that did not converge, a replay that did not match, \
                 or (soak) memory or open files not back to their baseline; the report says which"
            );
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
