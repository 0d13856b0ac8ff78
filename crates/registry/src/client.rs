//! One image lookup against the OCI distribution API.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use winkube_api::windows::{ImagePlatform, ImagePlatforms, ImageReference};

use crate::Error;
use crate::auth::{Challenge, Credentials};

/// Media types a manifest GET accepts, most specific first.
pub const MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Options of a [`RegistryClient`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The whole lookup (token, manifest, config blob) must finish within this.
    pub timeout: Duration,
    /// Registries (`host[:port]`) that may be reached over plain http besides loopback.
    pub insecure_registries: Vec<String>,
    /// Extra trusted CA certificates (PEM), e.g. a private registry's CA.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Also trust the system's CA certificates.
    pub system_roots: bool,
    /// Largest manifest, config blob or token response read.
    pub max_body_bytes: usize,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            insecure_registries: Vec::new(),
            extra_ca_pem: Vec::new(),
            system_roots: true,
            max_body_bytes: 4 << 20,
            user_agent: concat!("winkube/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Where the public roots of a [`root_store`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootsSource {
    /// The system's certificate store.
    System,
    /// The system store was empty (a `scratch` image has none): Mozilla's
    /// roots compiled into the binary (webpki-roots).
    Bundled,
    /// No public roots (`system_roots: false`): only `extra_ca_pem`.
    None,
}

/// The trust roots of a client: the system's certificates (`system`, as
/// loaded from the store), or the bundled Mozilla roots when the store is
/// empty, plus every `extra_ca_pem` certificate (`--registry-ca`).
pub fn root_store(
    opts: &ClientOptions,
    system: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<(rustls::RootCertStore, RootsSource), Error> {
    let mut roots = rustls::RootCertStore::empty();
    let mut source = RootsSource::None;
    if opts.system_roots {
        for cert in system {
            // A bad system certificate should not disable the others.
            let _ = roots.add(cert);
        }
        source = RootsSource::System;
        if roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            source = RootsSource::Bundled;
        }
    }
    for pem in &opts.extra_ca_pem {
        let mut rd = pem.as_slice();
        for cert in rustls_pemfile::certs(&mut rd) {
            let cert = cert.map_err(|e| Error::Tls(format!("extra CA: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("extra CA: {e}")))?;
        }
    }
    Ok((roots, source))
}

/// An OCI distribution client. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    http: HttpClient,
    opts: Arc<ClientOptions>,
}

/// `reg:5000` → `reg`; `[::1]:5000` → `::1`.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn is_loopback(authority: &str) -> bool {
    let h = host_of(authority);
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `sha256:<hex>` of the bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut s = String::from("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.contains(&t) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

impl RegistryClient {
    pub fn new(opts: ClientOptions) -> Result<Self, Error> {
        let system = if opts.system_roots {
            rustls_native_certs::load_native_certs().certs
        } else {
            Vec::new()
        };
        let (roots, source) = root_store(&opts, system)?;
        tracing::debug!(roots = roots.len(), source = ?source, "registry client trust roots");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(opts.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Self {
            http: client,
            opts: Arc::new(opts),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// `http` for loopback and configured insecure registries, `https` otherwise.
    pub fn scheme_for(&self, registry: &str) -> &'static str {
        let insecure = self
            .opts
            .insecure_registries
            .iter()
            .any(|r| r.eq_ignore_ascii_case(registry));
        if insecure || is_loopback(registry) {
            "http"
        } else {
            "https"
        }
    }

    /// The API host of a registry name (`docker.io` is served by `registry-1.docker.io`).
    pub fn api_host(registry: &str) -> &str {
        if registry == winkube_api::windows::DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        }
    }

    /// Resolves a reference to the platforms it provides. Never takes longer than the
    /// configured timeout.
    pub async fn resolve(
        &self,
        reference: &ImageReference,
        creds: Option<&Credentials>,
    ) -> Result<ImagePlatforms, Error> {
        let t = self.opts.timeout;
        match tokio::time::timeout(t, self.resolve_inner(reference, creds)).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                registry: reference.registry.clone(),
                seconds: t.as_secs_f64(),
            }),
        }
    }

    /// A session for one repository of `reference`'s registry.
    fn session(&self, reference: &ImageReference, creds: Option<&Credentials>) -> Session<'_> {
        let host = Self::api_host(&reference.registry);
        Session {
            client: self,
            registry: reference.registry.clone(),
            authority: host.to_owned(),
            base: format!("{}://{host}", self.scheme_for(&reference.registry)),
            repository: reference.repository.clone(),
            creds: creds.cloned(),
            auth: None,
        }
    }

    async fn resolve_inner(
        &self,
        reference: &ImageReference,
        creds: Option<&Credentials>,
    ) -> Result<ImagePlatforms, Error> {
        let mut s = self.session(reference, creds);
        let (digest, doc, is_index) = s.manifest(reference).await?;
        let digest = Some(digest);
        if is_index {
            let platforms = parse_index(&doc).map_err(|r| s.invalid("index", r))?;
            return Ok(ImagePlatforms { digest, platforms });
        }
        let cfg = s.config_blob(&doc).await?;
        let platform = platform_of(&cfg).map_err(|r| s.invalid("config blob", r))?;
        Ok(ImagePlatforms {
            digest,
            platforms: vec![platform],
        })
    }

    /// The run-time configuration of a single-platform image (user, entrypoint, command,
    /// platform), read from its config blob. An index is an error naming it: pick one of
    /// its platforms by digest. Bounded by the configured timeout.
    pub async fn config(
        &self,
        reference: &ImageReference,
        creds: Option<&Credentials>,
    ) -> Result<ImageConfig, Error> {
        let t = self.opts.timeout;
        let inner = async {
            let mut s = self.session(reference, creds);
            let (digest, doc, is_index) = s.manifest(reference).await?;
            if is_index {
                return Err(s.invalid(
                    "manifest",
                    "an index of several platforms; ask for one of its manifests by digest".into(),
                ));
            }
            let cfg = s.config_blob(&doc).await?;
            let platform = platform_of(&cfg).map_err(|r| s.invalid("config blob", r))?;
            let run = cfg.get("config").cloned().unwrap_or(Value::Null);
            let strings = |k: &str| -> Vec<String> {
                run.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Ok(ImageConfig {
                digest,
                platform,
                user: run
                    .get("User")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                entrypoint: strings("Entrypoint"),
                cmd: strings("Cmd"),
                env: strings("Env"),
            })
        };
        match tokio::time::timeout(t, inner).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                registry: reference.registry.clone(),
                seconds: t.as_secs_f64(),
            }),
        }
    }
}

/// What an image runs as: the parts of its config blob a deployment depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// The manifest's digest.
    pub digest: String,
    /// `os`, `architecture` (and `os.version`, `variant`).
    pub platform: ImagePlatform,
    /// `config.User` (empty: root).
    pub user: String,
    /// `config.Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `config.Cmd`.
    pub cmd: Vec<String>,
    /// `config.Env`.
    pub env: Vec<String>,
}

/// The platform an image config blob describes (`os`, `architecture`, `os.version`...).
/// Public so the fuzz targets and tests reach the parser without a registry.
pub fn platform_of(v: &Value) -> Result<ImagePlatform, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let os = s("os").ok_or("no os")?;
    Ok(ImagePlatform {
        os,
        architecture: s("architecture").unwrap_or_default(),
        variant: s("variant"),
        os_version: s("os.version"),
        os_features: v
            .get("os.features")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
    })
}

/// Platforms of an OCI index or Docker manifest list. Entries without a platform, and
/// attestation entries (`unknown/unknown`), are skipped.
pub fn parse_index(doc: &Value) -> Result<Vec<ImagePlatform>, String> {
    let entries = doc
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or("no manifests array")?;
    let mut out = Vec::new();
    for e in entries {
        let Some(p) = e.get("platform") else { continue };
        let p = platform_of(p)?;
        if p.os == "unknown" {
            continue;
        }
        out.push(p);
    }
    Ok(out)
}

struct Session<'a> {
    client: &'a RegistryClient,
    registry: String,
    authority: String,
    base: String,
    repository: String,
    creds: Option<Credentials>,
    auth: Option<String>,
}

impl Session<'_> {
    /// GETs the manifest of `reference`, checking a pinned digest: (digest, document, is an index).
    async fn manifest(
        &mut self,
        reference: &ImageReference,
    ) -> Result<(String, Value, bool), Error> {
        let manifest_ref = reference.manifest_reference();
        let url = format!(
            "{}/v2/{}/manifests/{manifest_ref}",
            self.base, self.repository
        );
        let (headers, body) = self
            .get(
                &url,
                Some(&MEDIA_TYPES.join(", ")),
                &format!("manifest {}:{manifest_ref}", self.repository),
            )
            .await?;
        let computed = sha256_digest(&body);
        if let Some(want) = &reference.digest
            && want.starts_with("sha256:")
            && *want != computed
        {
            return Err(self.invalid(
                "manifest",
                format!("content digest {computed} does not match {want}"),
            ));
        }
        let digest = reference.digest.clone().unwrap_or(computed);
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| self.invalid("manifest", format!("not JSON: {e}")))?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let media_type = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(content_type)
            .unwrap_or_default();
        let is_index = INDEX_TYPES.contains(&media_type.as_str()) || doc.get("manifests").is_some();
        Ok((digest, doc, is_index))
    }

    /// GETs and checks the config blob a single manifest names.
    async fn config_blob(&mut self, doc: &Value) -> Result<Value, Error> {
        if doc.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
            return Err(self.invalid(
                "manifest",
                "Docker schema 1 manifests carry no OS version; push the image with a current client".into(),
            ));
        }
        let config = doc
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(Value::as_str)
            .ok_or_else(|| self.invalid("manifest", "no config digest".into()))?
            .to_owned();
        if !config.starts_with("sha256:") || config.len() != 71 || config.contains('/') {
            return Err(self.invalid("manifest", format!("unsupported config digest {config:?}")));
        }
        let url = format!("{}/v2/{}/blobs/{config}", self.base, self.repository);
        let (_, blob) = self
            .get(&url, None, &format!("config blob {config}"))
            .await?;
        if sha256_digest(&blob) != config {
            return Err(self.invalid("config blob", format!("content does not match {config}")));
        }
        serde_json::from_slice(&blob)
            .map_err(|e| self.invalid("config blob", format!("not JSON: {e}")))
    }

    fn invalid(&self, what: &str, reason: String) -> Error {
        Error::Invalid {
            registry: self.registry.clone(),
            what: what.into(),
            reason,
        }
    }

    fn connect_err(&self, e: &(dyn std::error::Error + 'static)) -> Error {
        Error::Connect {
            registry: self.registry.clone(),
            reason: error_chain(e),
        }
    }

    async fn send(
        &self,
        uri: &Uri,
        accept: Option<&str>,
        auth: Option<&str>,
    ) -> Result<(StatusCode, HeaderMap, hyper::body::Incoming), Error> {
        let mut req =
            Request::get(uri.clone()).header(header::USER_AGENT, &self.client.opts.user_agent);
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| self.invalid("request", e.to_string()))?;
        let resp = self
            .client
            .http
            .request(req)
            .await
            .map_err(|e| self.connect_err(&e))?;
        let (parts, body) = resp.into_parts();
        Ok((parts.status, parts.headers, body))
    }

    async fn read(&self, body: hyper::body::Incoming, what: &str) -> Result<Bytes, Error> {
        let limit = self.client.opts.max_body_bytes;
        Limited::new(body, limit)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| self.invalid(what, format!("body unreadable or over {limit} bytes: {e}")))
    }

    fn check_scheme(&self, uri: &Uri) -> Result<(), Error> {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        if uri.scheme_str() == Some("http") && self.client.scheme_for(authority) != "http" {
            return Err(Error::InsecureRefused(authority.to_owned()));
        }
        Ok(())
    }

    /// GET with the registry's auth flow and redirects (blobs are often served elsewhere).
    async fn get(
        &mut self,
        url: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<(HeaderMap, Bytes), Error> {
        let mut uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| self.invalid("URL", e.to_string()))?;
        let mut authed_once = false;
        for _ in 0..8 {
            self.check_scheme(&uri)?;
            let same_host = uri.authority().map(|a| a.as_str()) == Some(self.authority.as_str());
            // Credentials go only to the registry itself, never to a redirect target.
            let auth = if same_host { self.auth.clone() } else { None };
            let (status, headers, body) = self.send(&uri, accept, auth.as_deref()).await?;
            match status {
                s if s.is_success() => {
                    let bytes = self.read(body, what).await?;
                    return Ok((headers, bytes));
                }
                StatusCode::UNAUTHORIZED if same_host && !authed_once => {
                    authed_once = true;
                    let challenge = headers
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(Challenge::parse);
                    self.authenticate(challenge).await?;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(Error::Unauthorized {
                        registry: self.registry.clone(),
                        repository: self.repository.clone(),
                        reason: if self.creds.is_some() {
                            "the credentials from the pull secret were rejected".into()
                        } else {
                            "no credentials (add an imagePullSecret)".into()
                        },
                    });
                }
                StatusCode::NOT_FOUND => {
                    return Err(Error::NotFound {
                        registry: self.registry.clone(),
                        what: what.into(),
                    });
                }
                s if s.is_redirection() => {
                    let loc = headers
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| self.invalid("redirect", "no Location".into()))?;
                    let next = if loc.starts_with("http://") || loc.starts_with("https://") {
                        loc.to_owned()
                    } else if loc.starts_with('/') {
                        format!(
                            "{}://{}{loc}",
                            uri.scheme_str().unwrap_or("https"),
                            uri.authority().map(|a| a.as_str()).unwrap_or("")
                        )
                    } else {
                        return Err(
                            self.invalid("redirect", format!("unsupported Location {loc:?}"))
                        );
                    };
                    uri = next.parse().map_err(|e: http::uri::InvalidUri| {
                        self.invalid("redirect", e.to_string())
                    })?;
                }
                s => {
                    return Err(Error::Status {
                        registry: self.registry.clone(),
                        status: s.as_u16(),
                        url: uri.to_string(),
                    });
                }
            }
        }
        Err(self.invalid("response", "too many redirects".into()))
    }

    async fn authenticate(&mut self, challenge: Option<Challenge>) -> Result<(), Error> {
        let unauthorized = |reason: String| Error::Unauthorized {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            reason,
        };
        match challenge {
            Some(Challenge::Basic) => match &self.creds {
                Some(c) => {
                    self.auth = Some(c.basic_header());
                    Ok(())
                }
                None => Err(unauthorized(
                    "basic auth required and no pull secret has credentials for it".into(),
                )),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = scope.unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let mut url = realm.clone();
                url.push(if realm.contains('?') { '&' } else { '?' });
                if let Some(svc) = service {
                    url.push_str(&format!("service={}&", encode(&svc)));
                }
                url.push_str(&format!("scope={}", encode(&scope)));
                let uri: Uri = url.parse().map_err(|e: http::uri::InvalidUri| {
                    self.invalid("token realm", e.to_string())
                })?;
                self.check_scheme(&uri)?;
                let basic = self.creds.as_ref().map(Credentials::basic_header);
                let (status, _, body) = self.send(&uri, None, basic.as_deref()).await?;
                if !status.is_success() {
                    return Err(unauthorized(format!(
                        "token service {realm} answered {status}"
                    )));
                }
                let bytes = self.read(body, "token response").await?;
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| self.invalid("token response", e.to_string()))?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| self.invalid("token response", "no token".into()))?;
                self.auth = Some(format!("Bearer {token}"));
                Ok(())
            }
            None => Err(unauthorized(
                "401 without a usable WWW-Authenticate challenge".into(),
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_hosts() {
        let c = RegistryClient::new(ClientOptions {
            insecure_registries: vec!["registry.lan:5000".into()],
            system_roots: false,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.scheme_for("127.0.0.1:5000"), "http");
        assert_eq!(c.scheme_for("[::1]:5000"), "http");
        assert_eq!(c.scheme_for("localhost:5000"), "http");
        assert_eq!(c.scheme_for("registry.lan:5000"), "http");
        assert_eq!(c.scheme_for("registry.lan"), "https");
        assert_eq!(c.scheme_for("mcr.microsoft.com"), "https");
        assert_eq!(c.scheme_for("127.example.com"), "https");
        assert_eq!(
            RegistryClient::api_host("docker.io"),
            "registry-1.docker.io"
        );
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// A self-signed CA certificate (PEM) and its DER.
    fn ca() -> (Vec<u8>, rustls::pki_types::CertificateDer<'static>) {
        let ca = winkube_testkit::tls::TestCa::new("corporate CA").unwrap();
        (ca.cert_pem().into_bytes(), ca.cert_der())
    }

    #[test]
    fn bundled_roots_are_the_fallback_when_the_system_store_is_empty() {
        let bundled = webpki_roots::TLS_SERVER_ROOTS.len();
        assert!(bundled > 100, "{bundled} bundled roots");
        // A scratch image: no system certificates at all.
        let (roots, source) = root_store(&ClientOptions::default(), Vec::new()).unwrap();
        assert_eq!(source, RootsSource::Bundled);
        assert_eq!(roots.len(), bundled);

        // A corporate CA from --registry-ca comes on top of the bundled roots.
        let (pem, der) = ca();
        let opts = ClientOptions {
            extra_ca_pem: vec![pem.clone()],
            ..Default::default()
        };
        let (roots, source) = root_store(&opts, Vec::new()).unwrap();
        assert_eq!(source, RootsSource::Bundled);
        assert_eq!(roots.len(), bundled + 1);

        // A system store with certificates is used as it is.
        let (roots, source) = root_store(&ClientOptions::default(), vec![der.clone()]).unwrap();
        assert_eq!(source, RootsSource::System);
        assert_eq!(roots.len(), 1);

        // system_roots off: only the extra CAs, never the bundle.
        let opts = ClientOptions {
            system_roots: false,
            extra_ca_pem: vec![pem],
            ..Default::default()
        };
        let (roots, source) = root_store(&opts, vec![der]).unwrap();
        assert_eq!(source, RootsSource::None);
        assert_eq!(roots.len(), 1);

        let bad = ClientOptions {
            extra_ca_pem: vec![
                b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_vec(),
            ],
            ..Default::default()
        };
        assert!(
            matches!(root_store(&bad, Vec::new()), Err(Error::Tls(m)) if m.starts_with("extra CA: "))
        );
    }

    #[test]
    fn index_parsing_skips_attestations() {
        let doc = serde_json::json!({"manifests": [
            {"digest": "sha256:1", "platform": {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.1"}},
            {"digest": "sha256:2", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:3"}
        ]});
        let p = parse_index(&doc).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].os_version.as_deref(), Some("10.0.17763.1"));
        assert!(
            parse_index(&serde_json::json!({"manifests": [{"platform": {"architecture": "x"}}]}))
                .is_err()
        );
    }
}
