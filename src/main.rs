//! The `polygate` binary: parses the command line and runs the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use polygate::cli::{Cli, Command};

/// mimalloc: allocation is on every request's path, and glibc's malloc/free cost 5-8 % of it
/// (BENCHMARKS.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("polygate: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve(source) => polygate::serve(&source).await,
            Command::Check(source) => polygate::check(&source).await,
            Command::Import(command) => polygate::import(&command),
            Command::Openapi(args) => polygate::describe(&args, false).await,
            Command::Asyncapi(args) => polygate::describe(&args, true).await,
        }
    })
}
