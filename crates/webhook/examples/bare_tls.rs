//! A baseline for the load benchmark: the webhook's TLS and HTTP stack (rustls with ring,
//! hyper-util auto HTTP/1.1 + HTTP/2) answering every request with a fixed AdmissionReview,
//! with no routing, body parsing or policy. `bench/load.sh` runs it next to the real server so
//! the difference is the cost of winkube's own work.
//!
//! Usage: `bare_tls <addr> <cert.pem> <key.pem>`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::sync::Arc;

const ANSWER: &[u8] = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"bench","allowed":true}}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, cert, key] = args.as_slice() else {
        return Err("usage: bare_tls <addr> <cert.pem> <key.pem>".into());
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pair = winkube_webhook::certs::load_pair(cert.as_ref(), key.as_ref(), &provider)?;
    let resolver = Arc::new(winkube_webhook::certs::CertResolver::new(pair));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let addr: std::net::SocketAddr = addr.parse()?;
    // The same runtime choice as `winkube webhook`, so the comparison stays fair.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        // Read the body as the real server does, then answer.
                        let _ = req.into_body().collect().await;
                        let mut resp = http::Response::new(Full::new(Bytes::from_static(ANSWER)));
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, Infallible>(resp)
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    })
}
