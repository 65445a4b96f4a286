//! `emitter`: flags, logging, then [`emitter::run`] until the total is sent or SIGINT/SIGTERM.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = emitter::Config::parse();
    schema::logging::init(cfg.log_format);
    match emitter::run(cfg, schema::shutdown::signal()).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "emitter stopped");
            std::process::ExitCode::FAILURE
        }
    }
}
