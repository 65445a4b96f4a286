//! `transformer`: flags, logging, then [`transformer::run`] until SIGINT/SIGTERM.

use transformer::config::Config;

/// musl's malloc, which a static build gets by default, cost a third of the transformer's CPU (its locks and the
/// page faults of its mmap churn). dlmalloc is pure Rust (the port the standard library uses on wasm) and several
/// times faster here; every build uses it, so the tests exercise what ships.
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> std::process::ExitCode {
    // Before any thread starts: an empty environment variable counts as unset (runtime::cli).
    let cfg: Config = runtime::cli::parse();
    // Configuration errors exit 2, as clap's own do; failures at run time exit 1.
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(2);
    }
    runtime::logging::init(cfg.log_format);
    runtime::cli::run("transformer", transformer::run(cfg, runtime::shutdown::signal()))
}
