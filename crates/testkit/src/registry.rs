//! [`TestRegistry`]: Debian's `docker-registry` (CNCF distribution) started on a free
//! loopback port with storage in a temporary directory, for tests that resolve images
//! against a real registry. Tests push their own blobs, manifests and indexes over plain
//! HTTP.
//!
//! A fixture: every step that fails panics with what went wrong (a test cannot go on
//! without its registry).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::tools::tool_available;

/// Where Debian installs the registry (`apt-get install -y docker-registry`).
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A running `docker-registry` on loopback, stopped (and its storage removed) on drop.
pub struct TestRegistry {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRegistry")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// `sha256:<hex>` of `data`, as registries name blobs and manifests.
pub fn sha256(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl TestRegistry {
    /// Starts the registry and waits until `/v2/` answers. `None` when the binary is not
    /// installed and the test may be skipped ([`tool_available`]: under `CI=true` it
    /// panics instead); `test` names the test in the skip message.
    pub async fn start(test: &str) -> Option<Self> {
        if !tool_available(REGISTRY_BINARY, "apt-get install -y docker-registry", test) {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory for the registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("write the registry's configuration");
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .expect("create the registry's log file");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start docker-registry");
        let reg = Self {
            child,
            host: format!("127.0.0.1:{port}"),
            dir,
            http: Client::builder(TokioExecutor::new()).build_http(),
        };
        for _ in 0..200 {
            let req = Request::get(format!("http://{}/v2/", reg.host))
                .body(Full::new(Bytes::new()))
                .expect("a valid request");
            if let Ok(r) = reg.http.request(req).await
                && r.status() == StatusCode::OK
            {
                return Some(reg);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "docker-registry did not come up on {}:\n{}",
            reg.host,
            reg.log()
        );
    }

    /// `127.0.0.1:<port>`: the registry part of image references.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The registry's own log so far (errors only), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The storage directory's parent (holds `config.yml` and `registry.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, http::HeaderMap, Bytes) {
        let mut req = Request::builder().method(method).uri(url);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        let resp = self
            .http
            .request(req)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .to_bytes();
        (parts.status, parts.headers, body)
    }

    /// Uploads a blob (monolithic upload); returns its digest and size.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> (String, usize) {
        let digest = sha256(data);
        let (status, headers, _) = self
            .call(
                Method::POST,
                &format!("http://{}/v2/{repo}/blobs/uploads/", self.host),
                None,
                Vec::new(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "starting a blob upload");
        let loc = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("a Location header for the upload")
            .to_owned();
        let loc = if loc.starts_with('/') {
            format!("http://{}{loc}", self.host)
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let (status, _, body) = self
            .call(
                Method::PUT,
                &format!("{loc}{sep}digest={digest}"),
                Some("application/octet-stream"),
                data.to_vec(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
        (digest, data.len())
    }

    /// Puts a manifest or index as `repo:reference`; returns its digest and size.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        doc: &Value,
    ) -> (String, usize) {
        let body = serde_json::to_vec(doc).expect("JSON serialises");
        let (status, _, resp) = self
            .call(
                Method::PUT,
                &format!("http://{}/v2/{repo}/manifests/{reference}", self.host),
                Some(media_type),
                body.clone(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&resp)
        );
        (sha256(&body), body.len())
    }

    /// Pushes a one-layer amd64 image of `os` (with `os.version` when given), OCI or Docker
    /// media types, tagged `tag` (else by its digest); returns the manifest's digest and
    /// size.
    pub async fn push_image(
        &self,
        repo: &str,
        os: &str,
        os_version: Option<&str>,
        tag: Option<&str>,
        docker: bool,
    ) -> (String, usize) {
        let mut cfg = json!({"architecture": "amd64", "os": os,
            "rootfs": {"type": "layers", "diff_ids": []}, "config": {}});
        if let Some(v) = os_version {
            cfg["os.version"] = json!(v);
        }
        let cfg = serde_json::to_vec(&cfg).expect("JSON serialises");
        let (cfg_digest, cfg_size) = self.push_blob(repo, &cfg).await;
        let layer = format!("layer of {os} {os_version:?}").into_bytes();
        let (layer_digest, layer_size) = self.push_blob(repo, &layer).await;
        let (mt, cfg_mt, layer_mt) = if docker {
            (
                DOCKER_MANIFEST,
                "application/vnd.docker.container.image.v1+json",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
            )
        } else {
            (
                OCI_MANIFEST,
                "application/vnd.oci.image.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        };
        let manifest = json!({"schemaVersion": 2, "mediaType": mt,
            "config": {"mediaType": cfg_mt, "digest": cfg_digest, "size": cfg_size},
            "layers": [{"mediaType": layer_mt, "digest": layer_digest, "size": layer_size}]});
        let digest = sha256(&serde_json::to_vec(&manifest).expect("JSON serialises"));
        self.push_manifest(repo, tag.unwrap_or(&digest), mt, &manifest)
            .await
    }

    /// Pushes an index (OCI, or a Docker manifest list) tagged `tag` whose entries are one
    /// image per `(os, os.version)` of `platforms`; returns the index's digest.
    pub async fn push_index(
        &self,
        repo: &str,
        tag: &str,
        platforms: &[(&str, Option<&str>)],
        docker: bool,
    ) -> String {
        let (child_mt, index_mt) = if docker {
            (DOCKER_MANIFEST, DOCKER_LIST)
        } else {
            (OCI_MANIFEST, OCI_INDEX)
        };
        let mut entries = Vec::new();
        for &(os, version) in platforms {
            let (d, size) = self.push_image(repo, os, version, None, docker).await;
            let mut platform = json!({"os": os, "architecture": "amd64"});
            if let Some(v) = version {
                platform["os.version"] = json!(v);
            }
            entries.push(
                json!({"mediaType": child_mt, "digest": d, "size": size, "platform": platform}),
            );
        }
        let index = json!({"schemaVersion": 2, "mediaType": index_mt, "manifests": entries});
        self.push_manifest(repo, tag, index_mt, &index).await.0
    }
}
