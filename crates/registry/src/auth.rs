//! Registry credentials (dockerconfigjson) and `WWW-Authenticate` challenges.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::Error;

/// A username and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log the password.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// The `auths` of a `.dockerconfigjson` (or legacy `.dockercfg`), keyed by registry host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    auths: BTreeMap<String, Credentials>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `https://index.docker.io/v1/` → `docker.io`; `reg:5000/v2` → `reg:5000`.
fn normalise_host(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

impl DockerConfig {
    /// Parses `{"auths": {...}}` or the legacy top-level map.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::DockerConfig(e.to_string()))?;
        let map = v.get("auths").unwrap_or(&v);
        let obj = map
            .as_object()
            .ok_or_else(|| Error::DockerConfig("expected an object of registries".into()))?;
        let mut out = Self::default();
        for (key, entry) in obj {
            let raw: RawEntry = serde_json::from_value(entry.clone())
                .map_err(|e| Error::DockerConfig(format!("entry {key:?}: {e}")))?;
            let creds = match (raw.username, raw.password, raw.auth) {
                (Some(u), Some(p), _) if !u.is_empty() => Credentials {
                    username: u,
                    password: p,
                },
                (_, _, Some(a)) if !a.is_empty() => {
                    let decoded = STANDARD.decode(a.trim()).map_err(|e| {
                        Error::DockerConfig(format!("entry {key:?}: auth is not base64: {e}"))
                    })?;
                    let text = String::from_utf8(decoded).map_err(|_| {
                        Error::DockerConfig(format!("entry {key:?}: auth is not UTF-8"))
                    })?;
                    let (u, p) = text.split_once(':').ok_or_else(|| {
                        Error::DockerConfig(format!("entry {key:?}: auth must be user:password"))
                    })?;
                    Credentials {
                        username: u.into(),
                        password: p.into(),
                    }
                }
                _ => continue,
            };
            out.auths.insert(normalise_host(key), creds);
        }
        Ok(out)
    }

    /// Adds the entries of `other` that this config does not have (the pod's first
    /// `imagePullSecret` wins, as in the kubelet).
    pub fn merge(&mut self, other: DockerConfig) {
        for (k, v) in other.auths {
            self.auths.entry(k).or_insert(v);
        }
    }

    /// Credentials for a registry host (`docker.io`, `reg.example.com:5000`).
    pub fn credentials_for(&self, registry: &str) -> Option<&Credentials> {
        self.auths.get(&normalise_host(registry))
    }

    pub fn is_empty(&self) -> bool {
        self.auths.is_empty()
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

impl Challenge {
    /// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
    pub fn parse(header: &str) -> Option<Self> {
        let h = header.trim();
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let realm = params.get("realm")?.clone();
        Some(Challenge::Bearer {
            realm,
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    }
}

/// `a="x,y", b=z` → {a: "x,y", b: "z"} (quoted values may contain commas).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(stripped) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = stripped.char_indices();
            let mut end = stripped.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = stripped[end.min(stripped.len())..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(',').trim_start();
        if !key.is_empty() {
            out.insert(key, value);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/nginx:pull,push".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn docker_config() {
        let auth = STANDARD.encode("bob:s3cret:x");
        let json = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
               "reg.example.com:5000": {{"username": "u", "password": "p"}},
               "empty.example.com": {{}}}}}}"#
        );
        let cfg = DockerConfig::from_json(json.as_bytes()).unwrap();
        let hub = cfg.credentials_for("docker.io").unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("bob", "s3cret:x")
        );
        assert_eq!(
            cfg.credentials_for("reg.example.com:5000")
                .unwrap()
                .username,
            "u"
        );
        assert!(cfg.credentials_for("empty.example.com").is_none());
        assert!(!format!("{hub:?}").contains("s3cret"));
        assert!(DockerConfig::from_json(br#"{"auths": {"x": {"auth": "!!"}}}"#).is_err());
        assert!(DockerConfig::from_json(b"[]").is_err());
        // Legacy .dockercfg: the map itself.
        let legacy =
            DockerConfig::from_json(br#"{"r.io": {"username": "a", "password": "b"}}"#).unwrap();
        assert_eq!(legacy.credentials_for("r.io").unwrap().password, "b");
    }
}
