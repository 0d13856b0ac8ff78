//! kubelet.exe and kubeadm.exe: from a directory or downloaded, each checked against its
//! published `.sha256` (the release site publishes one beside every binary). Binaries are
//! staged in a private directory first; nothing reaches the node's directories unless every
//! checksum matched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::Error;
use crate::plan::{Artifact, BINARIES};
use crate::version::KubernetesVersion;

/// The Kubernetes release download site (`<base>/<version>/bin/windows/amd64/<name>`).
pub const DEFAULT_DOWNLOAD_BASE: &str = "https://dl.k8s.io/release";
/// Largest binary accepted (kubelet.exe is about 120 MB).
pub const MAX_BINARY_BYTES: u64 = 1 << 30;
const MAX_CHECKSUM_BYTES: usize = 4096;

/// Where the binaries come from.
#[derive(Clone, Debug)]
pub enum BinarySource {
    /// `--binaries-from DIR`: `DIR/kubelet.exe` and `DIR/kubelet.exe.sha256`, ...
    Dir(PathBuf),
    /// `--download-base URL`.
    Download { base: String, timeout: Duration },
}

/// `<base>/<version>/bin/windows/amd64/<name>`.
pub fn artifact_url(base: &str, version: KubernetesVersion, name: &str) -> String {
    format!(
        "{}/{version}/bin/windows/amd64/{name}",
        base.trim_end_matches('/')
    )
}

/// The hex sha256 of a `.sha256` file: `HEX` or `HEX  NAME` (sha256sum's format).
pub fn parse_checksum(text: &str, what: &str) -> Result<String, Error> {
    let token = text.split_whitespace().next().unwrap_or("");
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::invalid(
            format!("checksum file of {what}"),
            "expected 64 hex digits (a sha256)",
        ));
    }
    Ok(token.to_ascii_lowercase())
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(read_err)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(crate::hex(ctx.finish().as_ref()))
}

/// A small HTTP(S) client: https anywhere, plain http only to loopback (tests, a local
/// mirror on the node itself), redirects followed (the release site redirects to its CDN).
#[derive(Clone)]
pub struct Downloader {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

fn is_loopback(uri: &Uri) -> bool {
    match uri.host() {
        Some(h) => {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false)
        }
        None => false,
    }
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl Downloader {
    pub fn new(timeout: Duration) -> Result<Self, Error> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            // One bad system certificate must not disable the others.
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::System(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(30)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// GETs `url` (following up to 5 redirects) and hands the body to `sink` frame by
    /// frame, within the timeout.
    async fn get(
        &self,
        url: &str,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let fail = |reason: String| Error::Download {
            url: url.to_owned(),
            reason,
        };
        let work = async {
            let mut uri: Uri = url.parse().map_err(|e| fail(format!("invalid URL: {e}")))?;
            for _ in 0..6 {
                match uri.scheme_str() {
                    Some("https") => {}
                    Some("http") if is_loopback(&uri) => {}
                    _ => {
                        return Err(fail(format!(
                            "{uri} is not https (plain http is allowed to loopback only)"
                        )));
                    }
                }
                let req = Request::get(uri.clone())
                    .header(
                        header::USER_AGENT,
                        concat!("winkube-node/", env!("CARGO_PKG_VERSION")),
                    )
                    .body(Empty::new())
                    .map_err(|e| fail(e.to_string()))?;
                let resp = self.http.request(req).await.map_err(|e| fail(chain(&e)))?;
                let status = resp.status();
                if status.is_redirection() {
                    let loc = resp
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| fail(format!("{status} without a Location")))?;
                    uri = if loc.starts_with('/') {
                        format!(
                            "{}://{}{loc}",
                            uri.scheme_str().unwrap_or("https"),
                            uri.authority().map(|a| a.as_str()).unwrap_or("")
                        )
                        .parse()
                    } else {
                        loc.parse()
                    }
                    .map_err(|e| fail(format!("bad redirect {loc:?}: {e}")))?;
                    continue;
                }
                if status != StatusCode::OK {
                    return Err(fail(format!("HTTP {status} from {uri}")));
                }
                let mut body = resp.into_body();
                let mut total = 0u64;
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| fail(chain(&e)))?;
                    if let Ok(data) = frame.into_data() {
                        total += data.len() as u64;
                        if total > limit {
                            return Err(fail(format!("larger than {limit} bytes")));
                        }
                        sink(&data)?;
                    }
                }
                return Ok(());
            }
            Err(fail("too many redirects".into()))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| fail(format!("no answer within {} s", self.timeout.as_secs())))?
    }

    /// The published checksum of `url` (`url.sha256`).
    pub async fn checksum(&self, url: &str) -> Result<String, Error> {
        let sum_url = format!("{url}.sha256");
        let mut buf = Vec::new();
        self.get(&sum_url, MAX_CHECKSUM_BYTES as u64, &mut |d| {
            buf.extend_from_slice(d);
            Ok(())
        })
        .await?;
        parse_checksum(&String::from_utf8_lossy(&buf), &sum_url)
    }

    /// Downloads `url` to `dest`, hashing as it goes; a checksum other than `expected`
    /// deletes the file and fails.
    pub async fn download(&self, url: &str, dest: &Path, expected: &str) -> Result<(), Error> {
        let write_err = |source| Error::Write {
            path: dest.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::create(dest).map_err(write_err)?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let result = self
            .get(url, MAX_BINARY_BYTES, &mut |d| {
                ctx.update(d);
                file.write_all(d).map_err(write_err)
            })
            .await
            .and_then(|()| file.sync_all().map_err(write_err));
        drop(file);
        let result = result.and_then(|()| {
            let actual = crate::hex(ctx.finish().as_ref());
            if actual == expected {
                Ok(())
            } else {
                Err(Error::ChecksumMismatch {
                    what: url.to_owned(),
                    expected: expected.to_owned(),
                    actual,
                })
            }
        });
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }
}

/// The binaries' expected checksums, without fetching the binaries themselves: for a
/// directory, each file is hashed and must match its `.sha256` beside it; for a download,
/// only the `.sha256` files are fetched.
pub async fn expected_artifacts(
    source: &BinarySource,
    version: KubernetesVersion,
    downloader: Option<&Downloader>,
) -> Result<Vec<Artifact>, Error> {
    let mut out = Vec::new();
    for name in BINARIES {
        match source {
            BinarySource::Dir(dir) => {
                let file = dir.join(name);
                let sum_file = dir.join(format!("{name}.sha256"));
                let text = std::fs::read_to_string(&sum_file).map_err(|source| Error::Read {
                    path: sum_file.clone(),
                    source,
                })?;
                let expected = parse_checksum(&text, &sum_file.display().to_string())?;
                let actual = sha256_file(&file)?;
                if actual != expected {
                    return Err(Error::ChecksumMismatch {
                        what: file.display().to_string(),
                        expected,
                        actual,
                    });
                }
                out.push(Artifact {
                    name: name.into(),
                    sha256: expected,
                    source: file.display().to_string(),
                });
            }
            BinarySource::Download { base, .. } => {
                let d = downloader.ok_or_else(|| Error::System("no downloader".into()))?;
                let url = artifact_url(base, version, name);
                let sha256 = d.checksum(&url).await?;
                out.push(Artifact {
                    name: name.into(),
                    sha256,
                    source: url,
                });
            }
        }
    }
    Ok(out)
}

/// Puts the content of `artifact` into `dest` (a staging path) and verifies it: a copy
/// for a local file, a download for a URL.
pub async fn stage(
    artifact: &Artifact,
    dest: &Path,
    downloader: Option<&Downloader>,
) -> Result<(), Error> {
    if artifact.source.starts_with("https://") || artifact.source.starts_with("http://") {
        let d = downloader.ok_or_else(|| Error::System("no downloader".into()))?;
        return d.download(&artifact.source, dest, &artifact.sha256).await;
    }
    let from = Path::new(&artifact.source);
    std::fs::copy(from, dest).map_err(|source| Error::Write {
        path: dest.to_path_buf(),
        source,
    })?;
    let actual = sha256_file(dest)?;
    if actual != artifact.sha256 {
        let _ = std::fs::remove_file(dest);
        // The source changed between planning and staging.
        return Err(Error::ChecksumMismatch {
            what: artifact.source.clone(),
            expected: artifact.sha256.clone(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        let h = "a".repeat(64);
        assert_eq!(parse_checksum(&h, "x").unwrap(), h);
        assert_eq!(
            parse_checksum(&format!("{}  kubelet.exe\n", "AB".repeat(32)), "x").unwrap(),
            "ab".repeat(32)
        );
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(65)] {
            let e = parse_checksum(bad, "kubelet.exe.sha256")
                .unwrap_err()
                .to_string();
            assert!(e.contains("kubelet.exe.sha256"), "{e}");
        }
        assert_eq!(
            artifact_url(
                "https://dl.k8s.io/release/",
                KubernetesVersion::parse("v1.31.2").unwrap(),
                "kubelet.exe"
            ),
            "https://dl.k8s.io/release/v1.31.2/bin/windows/amd64/kubelet.exe"
        );
    }
}
