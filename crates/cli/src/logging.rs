//! Log set-up. `RUST_LOG`, when set, wins over everything (tracing's usual filter syntax).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Crates that are chatty at debug level; they are capped at info unless `RUST_LOG` says
/// otherwise, so `LOG_LEVEL=debug` shows winkube's decisions, not every TLS record.
const NOISY: [&str; 8] = [
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tower",
    "kube_client",
    "notify",
    "tokio_util",
];

fn filter(level: tracing::Level) -> EnvFilter {
    if let Ok(f) = EnvFilter::try_from_default_env() {
        return f;
    }
    let capped = if level > tracing::Level::INFO {
        tracing::Level::INFO
    } else {
        level
    };
    let mut directives = level.as_str().to_ascii_lowercase();
    for krate in NOISY {
        directives.push_str(&format!(
            ",{krate}={}",
            capped.as_str().to_ascii_lowercase()
        ));
    }
    EnvFilter::new(directives)
}

/// Logs of the server: to stdout (like the reference), text or JSON.
pub fn init_server(level: tracing::Level, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Logs of the command-line tools: to stderr (stdout carries the result), warnings and
/// errors only unless `RUST_LOG` asks for more.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(tracing::Level::WARN))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
