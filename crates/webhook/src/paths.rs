//! The webhook's HTTP paths, shared by the router and the manifest generator (the webhook
//! configurations and probes it writes must name exactly what the router serves).

use winkube_policy::Phase;

/// gMSA mutating webhook.
pub const MUTATE_PATH: &str = "/mutate";
/// gMSA validating webhook.
pub const VALIDATE_PATH: &str = "/validate";
/// Windows workload policies, mutating webhook.
pub const MUTATE_WINDOWS_PATH: &str = "/mutate-windows";
/// Windows workload policies, validating webhook.
pub const VALIDATE_WINDOWS_PATH: &str = "/validate-windows";
/// Readiness: 204 once the caches have synced, 503 before.
pub const HEALTH_PATH: &str = "/health";
/// `{"version":"..."}`.
pub const INFO_PATH: &str = "/info";
/// Prometheus text.
pub const METRICS_PATH: &str = "/metrics";

/// One of the four admission review paths: which review runs, and its metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The gMSA review in a phase (`/mutate`, `/validate`).
    Gmsa(Phase),
    /// The Windows workload policies in a phase (`/mutate-windows`, `/validate-windows`).
    Windows(Phase),
}

impl Endpoint {
    /// Every review path, in metrics order.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Gmsa(Phase::Mutate),
        Endpoint::Gmsa(Phase::Validate),
        Endpoint::Windows(Phase::Mutate),
        Endpoint::Windows(Phase::Validate),
    ];

    /// The review path this request path names, if any (compared exactly).
    pub fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.path() == path)
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Gmsa(Phase::Mutate) => MUTATE_PATH,
            Endpoint::Gmsa(Phase::Validate) => VALIDATE_PATH,
            Endpoint::Windows(Phase::Mutate) => MUTATE_WINDOWS_PATH,
            Endpoint::Windows(Phase::Validate) => VALIDATE_WINDOWS_PATH,
        }
    }

    /// The metrics and log label: the path without its slash.
    pub fn label(self) -> &'static str {
        &self.path()[1..]
    }

    pub fn phase(self) -> Phase {
        match self {
            Endpoint::Gmsa(p) | Endpoint::Windows(p) => p,
        }
    }

    /// Position in [`Endpoint::ALL`].
    pub fn index(self) -> usize {
        match self {
            Endpoint::Gmsa(Phase::Mutate) => 0,
            Endpoint::Gmsa(Phase::Validate) => 1,
            Endpoint::Windows(Phase::Mutate) => 2,
            Endpoint::Windows(Phase::Validate) => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_and_index_all() {
        for (i, e) in Endpoint::ALL.into_iter().enumerate() {
            assert_eq!(Endpoint::from_path(e.path()), Some(e));
            assert_eq!(e.index(), i);
        }
        assert_eq!(
            Endpoint::Windows(Phase::Validate).label(),
            "validate-windows"
        );
        assert_eq!(Endpoint::from_path("/mutate/"), None);
    }
}
