//! Logging for both binaries: `tracing` to stderr, human-readable by default (colour only on a terminal), one JSON
//! object per line with `--log-format json`. `RUST_LOG` overrides the default filter (`info`, rskafka at `error`:
//! its own retry warnings repeat ~10 times a second while a broker is away, and our one line per attempt says the
//! same).

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rskafka=error".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
