//! `transformer`: flags, logging, then [`transformer::run`] until SIGINT/SIGTERM.

use clap::Parser;
use transformer::config::{Config, LogFormat};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = Config::parse();
    init_logging(cfg.log_format);
    match transformer::run(cfg, schema::shutdown::signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "transformer stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rskafka=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
