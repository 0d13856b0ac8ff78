//! Kubernetes versions as clusters report them, the kubelet skew rule, and the version in
//! an image tag.

/// A Kubernetes version as the API server and kubelets report it (`v1.33.4`,
/// `v1.31.2+k3s1`, `v1.30.5-eks-ce1d5eb`): the suffix is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub fn parse(s: &str) -> Option<Self> {
        let core = s.trim().strip_prefix('v').unwrap_or(s.trim());
        let core = core.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let num = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        };
        let v = Self {
            major: num(parts.next())?,
            minor: num(parts.next())?,
            patch: num(parts.next())?,
        };
        parts.next().is_none().then_some(v)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The kubelet version skew rule (kubernetes.io/releases/version-skew-policy, "kubelet"):
/// the kubelet must not be newer than kube-apiserver, and may be up to three minor versions
/// older (two minor versions older if kube-apiserver is older than v1.28). Compared on
/// major.minor; patch releases do not count. `Err` says why a kubelet is outside it.
pub fn kubelet_skew(server: Version, kubelet: Version) -> Result<(), String> {
    if kubelet.major != server.major {
        return Err(format!(
            "the kubelet's major version {} differs from the API server's {}",
            kubelet.major, server.major
        ));
    }
    if kubelet.minor > server.minor {
        return Err(format!(
            "the kubelet ({kubelet}) is newer than the API server ({server}); a kubelet must never be newer"
        ));
    }
    let allowed = if server.minor >= 28 { 3 } else { 2 };
    let behind = server.minor - kubelet.minor;
    if behind > allowed {
        return Err(format!(
            "the kubelet ({kubelet}) is {behind} minor versions older than the API server ({server}); at most {allowed} are supported"
        ));
    }
    Ok(())
}

/// The version in an image's tag (`sigwindowstools/kube-proxy:v1.33.4-calico-hostprocess`
/// → v1.33.4); `None` without a tag or when the tag does not start with a version.
pub fn image_tag_version(image: &str) -> Option<Version> {
    let without_digest = image.split('@').next()?;
    let last = without_digest.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    let end = tag
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'v'))
        .unwrap_or(tag.len());
    Version::parse(&tag[..end])
}
