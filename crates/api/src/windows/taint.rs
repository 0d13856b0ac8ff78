//! The (configurable) taint the cluster puts on its Windows nodes.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::Toleration;

use super::WindowsError;

/// The taint the cluster puts on its Windows nodes (there is no well-known one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    /// Empty: the taint has no value and is tolerated with `operator: Exists`.
    pub value: String,
    pub effect: String,
}

impl Default for Taint {
    /// Upstream's recommendation: `os=windows:NoSchedule`.
    fn default() -> Self {
        Self {
            key: "os".into(),
            value: "windows".into(),
            effect: "NoSchedule".into(),
        }
    }
}

impl Taint {
    /// Parses `key=value:Effect` or `key:Effect` (kubectl's syntax).
    pub fn parse(s: &str) -> Result<Self, WindowsError> {
        let bad = || WindowsError::InvalidTaint(s.to_owned());
        let (kv, effect) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            return Err(bad());
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k, v),
            None => (kv, ""),
        };
        let key_ok = !key.is_empty()
            && key.len() <= 316
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        let value_ok = value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !key_ok || !value_ok {
            return Err(bad());
        }
        Ok(Self {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        })
    }

    /// The toleration a pod needs for this taint.
    pub fn toleration(&self) -> Toleration {
        Toleration {
            key: Some(self.key.clone()),
            operator: Some(if self.value.is_empty() {
                "Exists".into()
            } else {
                "Equal".into()
            }),
            value: (!self.value.is_empty()).then(|| self.value.clone()),
            effect: Some(self.effect.clone()),
            toleration_seconds: None,
        }
    }

    /// Does `t` tolerate this taint (Kubernetes' `ToleratesTaint`)?
    pub fn tolerated_by(&self, t: &Toleration) -> bool {
        let effect_ok = match t.effect.as_deref() {
            None | Some("") => true,
            Some(e) => e == self.effect,
        };
        if !effect_ok {
            return false;
        }
        let op = t.operator.as_deref().unwrap_or("Equal");
        let key = t.key.as_deref().unwrap_or("");
        if key.is_empty() {
            // An empty key with Exists matches every taint.
            return op == "Exists";
        }
        if key != self.key {
            return false;
        }
        match op {
            "Exists" => true,
            "" | "Equal" => t.value.as_deref().unwrap_or("") == self.value,
            _ => false,
        }
    }
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

impl FromStr for Taint {
    type Err = WindowsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn taints() {
        let t = Taint::parse("os=windows:NoSchedule").unwrap();
        assert_eq!(t, Taint::default());
        assert_eq!(t.to_string(), "os=windows:NoSchedule");
        let t2 = Taint::parse("node.kubernetes.io/os:NoExecute").unwrap();
        assert_eq!(t2.value, "");
        assert_eq!(t2.toleration().operator.as_deref(), Some("Exists"));
        for bad in [
            "os=windows",
            "os=windows:Never",
            ":NoSchedule",
            "o s=w:NoSchedule",
        ] {
            assert!(Taint::parse(bad).is_err(), "{bad:?} accepted");
        }
        let tol =
            |k: Option<&str>, op: Option<&str>, v: Option<&str>, e: Option<&str>| Toleration {
                key: k.map(Into::into),
                operator: op.map(Into::into),
                value: v.map(Into::into),
                effect: e.map(Into::into),
                toleration_seconds: None,
            };
        assert!(t.tolerated_by(&t.toleration()));
        assert!(t.tolerated_by(&tol(None, Some("Exists"), None, None)));
        assert!(t.tolerated_by(&tol(Some("os"), Some("Exists"), None, Some("NoSchedule"))));
        assert!(!t.tolerated_by(&tol(Some("os"), None, Some("Windows"), None)));
        assert!(!t.tolerated_by(&tol(Some("os"), None, Some("windows"), Some("NoExecute"))));
        assert!(!t.tolerated_by(&tol(None, None, None, None)));
    }
}
