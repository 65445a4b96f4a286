//! `transformer`: flags, logging, then [`transformer::run`] until SIGINT/SIGTERM.

use transformer::config::Config;

/// musl's malloc, which a static build gets by default, cost a third of the transformer's CPU (its locks and the
/// page faults of its mmap churn). dlmalloc is pure Rust (the port the standard library uses on wasm) and several
/// times faster here; every build uses it, so the tests exercise what ships.
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> std::process::ExitCode {
    // Before any thread starts: an empty environment variable counts as unset (runtime::cli).
    let (mut cfg, given): (Config, _) = runtime::cli::parse_given();
    cfg.given = given;
    // Configuration errors exit 2, as clap's own do; failures at run time exit 1.
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(2);
    }
    runtime::logging::init(cfg.log_format);
    // The job, planned before anything connects: a mistake in it is a configuration error with its line and column.
    if let Err(e) = cfg.load_job() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::from(2);
    }
    runtime::cli::run("transformer", transformer::run(cfg, runtime::shutdown::signal()))
}
