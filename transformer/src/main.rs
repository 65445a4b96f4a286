//! `transformer`: flags, logging, then [`transformer::run`] until SIGINT/SIGTERM.

use clap::Parser;
use transformer::config::Config;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = Config::parse();
    schema::logging::init(cfg.log_format);
    match transformer::run(cfg, schema::shutdown::signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "transformer stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
