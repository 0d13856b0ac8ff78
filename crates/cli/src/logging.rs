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

/// Colours only for a person: the stream is a terminal and `NO_COLOR` (no-color.org) is
/// unset or empty. Log collectors and pipes get plain text.
pub fn colours(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

pub fn colours_on(stream: &impl std::io::IsTerminal) -> bool {
    colours(stream.is_terminal(), std::env::var_os("NO_COLOR"))
}

/// Logs of the server: to stdout (like the reference), text or JSON.
pub fn init_server(level: tracing::Level, format: LogFormat) {
    use tracing_subscriber::util::SubscriberInitExt as _;
    let ansi = colours_on(&std::io::stdout());
    let _ = server_subscriber(level, format, ansi, std::io::stdout).try_init();
}

/// The server's subscriber, writing to `writer` (stdout in production, a buffer in tests).
fn server_subscriber<W>(
    level: tracing::Level,
    format: LogFormat,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// Logs of the command-line tools: to stderr (stdout carries the result), warnings and
/// errors only unless `RUST_LOG` asks for more.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(tracing::Level::WARN))
        .with_writer(std::io::stderr)
        .with_ansi(colours_on(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// Logs of a command-line tool that reports every failed API call itself (`doctor`): as
/// [`init_cli`], without the kube client's own error line for the same failure (unless
/// `RUST_LOG` asks for it).
pub fn init_cli_api() {
    let mut f = filter(tracing::Level::WARN);
    if std::env::var_os("RUST_LOG").is_none()
        && let Ok(d) = "kube_client=off".parse()
    {
        f = f.add_directive(d);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(f)
        .with_writer(std::io::stderr)
        .with_ansi(colours_on(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use std::sync::{Arc, Mutex};
    use winkube_webhook::routes::RouterOptions;
    use winkube_webhook::{Metrics, Readiness, Router};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The denial log line of a `/mutate` for a pod and a credspec whose names carry a
    /// newline, a terminal escape and a right-to-left override, in `format`.
    fn denial_log(format: LogFormat) -> String {
        let hostile = "evil\ninjected line \x1b[31mred\u{202E}txt";
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber =
            server_subscriber(tracing::Level::INFO, format, false, move || writer.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(Metrics::register(&mut registry));
        let router = Router::new(
            Arc::new(winkube_state::FileView::empty()),
            Readiness::ready_now(),
            metrics,
            Arc::new(registry),
            RouterOptions::default(),
        );
        let body = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": hostile, "kind": {"kind": "Pod"}, "namespace": hostile, "operation": "CREATE",
                "object": {"metadata": {"name": hostile}, "spec": {"serviceAccountName": "sa",
                    "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": hostile}}}}}});
        let req = http::Request::post("/mutate")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let resp = runtime.block_on(router.handle(req));
        assert_eq!(resp.status(), 200);
        let out = buffer.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())));
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
    }

    #[test]
    fn text_log_escapes_attacker_names_on_one_line() {
        let log = denial_log(LogFormat::Text);
        assert_eq!(log.matches('\n').count(), 1, "one line: {log:?}");
        assert!(log.contains("refusing to admit pod"), "{log:?}");
        assert!(
            !log.contains("\x1b[31m") && !log.contains('\u{202E}'),
            "{log:?}"
        );
        assert!(
            log.contains("evil\\ninjected line \\u{1b}[31mred\\u{202e}txt"),
            "{log:?}"
        );
        assert!(
            log.contains("cred spec evil\\ninjected"),
            "the reason too: {log:?}"
        );
    }

    #[test]
    fn json_log_is_one_object_with_one_message_key() {
        let log = denial_log(LogFormat::Json);
        assert_eq!(log.matches('\n').count(), 1, "one line: {log:?}");
        assert_eq!(log.matches("\"message\"").count(), 1, "{log}");
        let v: serde_json::Value = serde_json::from_str(log.trim_end()).unwrap();
        assert_eq!(v["message"], "refusing to admit pod");
        assert_eq!(v["pod"], "evil\\ninjected line \\u{1b}[31mred\\u{202e}txt");
        assert!(
            v["reason"]
                .as_str()
                .unwrap()
                .starts_with("cred spec evil\\ninjected"),
            "{v}"
        );
        assert!(!log.contains('\u{202E}'), "{log}");
    }
}
