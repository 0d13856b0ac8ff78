//! Container image references (docker.io defaults) and image platforms as a registry
//! reports them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{OS_WINDOWS, WindowsBuild, WindowsError};

/// The registry that references without a registry part point at.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed container image reference, normalised the way containerd does it:
/// `nginx` is `docker.io/library/nginx:latest`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageReference {
    /// `docker.io`, `mcr.microsoft.com`, `localhost:5000`, `[::1]:5000`.
    pub registry: String,
    /// `library/nginx`, `windows/servercore`.
    pub repository: String,
    /// As written; `None` when the reference had no tag.
    pub tag: Option<String>,
    /// `sha256:...`, when pinned.
    pub digest: Option<String>,
}

impl ImageReference {
    /// Parses a reference as a pod's `image` field holds it.
    pub fn parse(reference: &str) -> Result<Self, WindowsError> {
        let bad = |reason: &str| WindowsError::InvalidImageReference {
            reference: reference.to_owned(),
            reason: reason.to_owned(),
        };
        let s = reference.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > 4096 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or is too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let (alg, hex) = d
                    .split_once(':')
                    .ok_or_else(|| bad("digest must be algorithm:hex"))?;
                if alg.is_empty()
                    || hex.len() < 32
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    return Err(bad("digest must be algorithm:lowercase-hex"));
                }
                (r, Some(d.to_owned()))
            }
            None => (s, None),
        };
        // The first component is a registry when it has a dot or a port, or is localhost.
        let (registry, path) = match rest.split_once('/') {
            Some((first, tail))
                if first.contains('.')
                    || first.contains(':')
                    || first.starts_with('[')
                    || first == "localhost" =>
            {
                (first.to_owned(), tail)
            }
            _ => (DOCKER_HUB.to_owned(), rest),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        // A tag is after the last ':' of the last path component.
        let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match path[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&path[..at], Some(path[at + 1..].to_owned()))
            }
            None => (path, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("invalid tag"));
            }
        }
        if repo.is_empty() {
            return Err(bad("empty repository"));
        }
        for comp in repo.split('/') {
            let ok = !comp.is_empty()
                && comp
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && comp.as_bytes()[0].is_ascii_alphanumeric()
                && comp.as_bytes()[comp.len() - 1].is_ascii_alphanumeric();
            if !ok {
                return Err(bad(
                    "repository components must be lowercase alphanumerics separated by '.', '_' or '-'",
                ));
            }
        }
        let repository = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo.to_owned()
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when pinned, else the tag (default `latest`).
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The tag Kubernetes would pull: `latest` when none is given and no digest pins it.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// Is the image unpinned in the sense the tag policy cares about: no digest and no tag
    /// or the `latest` tag?
    pub fn is_floating(&self) -> bool {
        self.digest.is_none() && matches!(self.tag.as_deref(), None | Some("latest"))
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageReference {
    type Err = WindowsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One platform an image provides (an index entry, or the config of a single manifest).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `os.version` as published (`10.0.17763.5458`); truncate with [`Self::windows_build`].
    #[serde(
        default,
        rename = "os.version",
        alias = "osVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        default,
        rename = "os.features",
        alias = "osFeatures",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
}

impl ImagePlatform {
    /// The Windows build of this entry, when it is a Windows entry with a parseable
    /// `os.version`.
    pub fn windows_build(&self) -> Option<WindowsBuild> {
        if !self.os.eq_ignore_ascii_case(OS_WINDOWS) {
            return None;
        }
        WindowsBuild::parse(self.os_version.as_deref()?).ok()
    }

    pub fn is_windows(&self) -> bool {
        self.os.eq_ignore_ascii_case(OS_WINDOWS)
    }
}

/// What a registry says about an image: every platform it provides, and its digest.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlatforms {
    /// The digest of the manifest or index the reference resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub platforms: Vec<ImagePlatform>,
}

impl ImagePlatforms {
    /// The distinct operating systems the image provides (lowercase, sorted).
    pub fn oses(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .platforms
            .iter()
            .filter(|p| !p.os.is_empty() && p.os != "unknown")
            .map(|p| p.os.to_ascii_lowercase())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let cases = [
            ("nginx", "docker.io", "library/nginx", None, None),
            (
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            ("user/app", "docker.io", "user/app", None, None),
            (
                "mcr.microsoft.com/windows/servercore:ltsc2022",
                "mcr.microsoft.com",
                "windows/servercore",
                Some("ltsc2022"),
                None,
            ),
            (
                "localhost:5000/a/b:t",
                "localhost:5000",
                "a/b",
                Some("t"),
                None,
            ),
            ("localhost/a", "localhost", "a", None, None),
            ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", None, None),
            ("[::1]:5000/x:1", "[::1]:5000", "x", Some("1"), None),
            (
                "index.docker.io/library/busybox",
                "docker.io",
                "library/busybox",
                None,
                None,
            ),
        ];
        for (s, reg, repo, tag, dig) in cases {
            let r = ImageReference::parse(s).unwrap();
            assert_eq!(r.registry, reg, "{s}");
            assert_eq!(r.repository, repo, "{s}");
            assert_eq!(r.tag.as_deref(), tag, "{s}");
            assert_eq!(r.digest.as_deref(), dig, "{s}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageReference::parse(&format!("reg.io:443/x/y:v1@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_reference(), d);
        assert!(!r.is_floating());
        assert!(ImageReference::parse("nginx").unwrap().is_floating());
        assert!(ImageReference::parse("nginx:latest").unwrap().is_floating());
        assert!(!ImageReference::parse("nginx:1").unwrap().is_floating());
        assert_eq!(
            ImageReference::parse("nginx").unwrap().to_string(),
            "docker.io/library/nginx"
        );
        for bad in ["", "Nginx", "a b", "x@sha256:zz", "x:", "reg.io/", "x:-t"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
