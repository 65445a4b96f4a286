//! `emitter`: flags, logging, then [`emitter::run`] until the total is sent or SIGINT/SIGTERM.

use clap::Parser;

/// musl's malloc, which a static build gets by default, cost a third of the transformer's CPU (its locks and the
/// page faults of its mmap churn). dlmalloc is pure Rust (the port the standard library uses on wasm) and several
/// times faster here; every build uses it, so the tests exercise what ships.
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = emitter::Config::parse();
    // Configuration errors exit 2, as clap's own do; failures at run time exit 1.
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(2);
    }
    runtime::logging::init(cfg.log_format);
    match emitter::run(cfg, runtime::shutdown::signal()).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "emitter stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
