//! kubeadm's `JoinConfiguration` for a Windows node: containerd's pipe as the CRI socket,
//! the Windows taint that winkube's policies tolerate by default, the kubelet's process
//! priority class and the node's labels.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use winkube_api::windows::Taint;

use crate::Error;
use crate::version::{KubeadmApi, KubernetesVersion};

/// containerd's CRI endpoint on Windows, as kubeadm spells it.
pub const CRI_SOCKET: &str = "npipe:////./pipe/containerd-containerd";
/// The kubelet's process priority (`--windows-priorityclass`): above normal, so a busy
/// node's pods do not starve it.
pub const DEFAULT_PRIORITY_CLASS: &str = "ABOVE_NORMAL_PRIORITY_CLASS";
const PRIORITY_CLASSES: &[&str] = &[
    "IDLE_PRIORITY_CLASS",
    "BELOW_NORMAL_PRIORITY_CLASS",
    "NORMAL_PRIORITY_CLASS",
    "ABOVE_NORMAL_PRIORITY_CLASS",
    "HIGH_PRIORITY_CLASS",
    "REALTIME_PRIORITY_CLASS",
];

/// The join's settings (flags, or a file with these keys).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinOptions {
    /// `host:port` of the API server (or its load balancer).
    #[serde(default)]
    pub api_server_endpoint: String,
    /// The bootstrap token (`abcdef.0123456789abcdef`).
    #[serde(default)]
    pub token: String,
    /// `sha256:<hex>` of the cluster CA's public key (`kubeadm token create
    /// --print-join-command` prints it). Required: the token alone does not prove the
    /// API server is the cluster's.
    #[serde(default)]
    pub ca_cert_hashes: Vec<String>,
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `key=value:Effect`; default `os=windows:NoSchedule`.
    #[serde(default)]
    pub taint: Option<String>,
    #[serde(default)]
    pub priority_class: Option<String>,
}

impl JoinOptions {
    /// Reads a YAML or JSON options file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_saphyr::from_str(&text)
            .map_err(|e| Error::invalid(format!("join file {}", path.display()), e.to_string()))
    }

    /// Flags given on the command line win over the file's values; labels are merged.
    pub fn merge(&mut self, flags: JoinOptions) {
        if !flags.api_server_endpoint.is_empty() {
            self.api_server_endpoint = flags.api_server_endpoint;
        }
        if !flags.token.is_empty() {
            self.token = flags.token;
        }
        if !flags.ca_cert_hashes.is_empty() {
            self.ca_cert_hashes = flags.ca_cert_hashes;
        }
        if flags.node_name.is_some() {
            self.node_name = flags.node_name;
        }
        self.labels.extend(flags.labels);
        if flags.taint.is_some() {
            self.taint = flags.taint;
        }
        if flags.priority_class.is_some() {
            self.priority_class = flags.priority_class;
        }
    }
}

fn check_endpoint(e: &str) -> Result<(), Error> {
    let bad = || {
        Error::invalid(
            "API server endpoint",
            format!("{e:?} is not host:port (such as 10.0.0.10:6443)"),
        )
    };
    let (host, port) = e.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().map(|p| p > 0).unwrap_or(false);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host_ok = !host.is_empty()
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            }));
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

fn check_token(t: &str) -> Result<(), Error> {
    let ok = t.split_once('.').is_some_and(|(id, secret)| {
        id.len() == 6
            && secret.len() == 16
            && (id.bytes().chain(secret.bytes()))
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        // The token is a secret: not echoed.
        Err(Error::invalid(
            "token",
            "expected [a-z0-9]{6}.[a-z0-9]{16} (kubeadm token create prints one)",
        ))
    }
}

fn check_hash(h: &str) -> Result<(), Error> {
    let ok = h
        .strip_prefix("sha256:")
        .is_some_and(|x| x.len() == 64 && x.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "CA certificate hash",
            format!("{h:?} is not sha256:<64 hex digits>"),
        ))
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    winkube_api::names::is_dns1123_subdomain(s)
}

/// Labels the kubelet may set on its own Node (the NodeRestriction admission plugin
/// refuses other `kubernetes.io`/`k8s.io` labels, and the join would fail at registration).
fn kubelet_may_set(key: &str) -> bool {
    let Some((prefix, _)) = key.split_once('/') else {
        return true;
    };
    let restricted = prefix == "kubernetes.io"
        || prefix.ends_with(".kubernetes.io")
        || prefix == "k8s.io"
        || prefix.ends_with(".k8s.io");
    !restricted
        || prefix == "kubelet.kubernetes.io"
        || prefix.ends_with(".kubelet.kubernetes.io")
        || prefix == "node.kubernetes.io"
        || prefix.ends_with(".node.kubernetes.io")
        || [
            "kubernetes.io/hostname",
            "kubernetes.io/arch",
            "kubernetes.io/os",
            "beta.kubernetes.io/instance-type",
            "node.kubernetes.io/instance-type",
            "failure-domain.beta.kubernetes.io/region",
            "failure-domain.beta.kubernetes.io/zone",
            "topology.kubernetes.io/region",
            "topology.kubernetes.io/zone",
        ]
        .contains(&key)
}

fn check_label(k: &str, v: &str) -> Result<(), Error> {
    let what = || format!("node label {k}={v}");
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if !name_ok || prefix.is_some_and(|p| !is_dns_subdomain(p)) {
        return Err(Error::invalid(what(), "the key is not a valid label key"));
    }
    let value_ok = v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric());
    if !value_ok {
        return Err(Error::invalid(
            what(),
            "the value is not a valid label value",
        ));
    }
    if !kubelet_may_set(k) {
        return Err(Error::invalid(
            what(),
            "the kubelet may not set labels in the kubernetes.io/k8s.io namespaces except node.kubernetes.io/, kubelet.kubernetes.io/ and the well-known ones (NodeRestriction); set it with kubectl after the join",
        ));
    }
    Ok(())
}

/// The `JoinConfiguration` for a Kubernetes version, validated.
pub fn join_configuration(opts: &JoinOptions, version: KubernetesVersion) -> Result<Value, Error> {
    check_endpoint(&opts.api_server_endpoint)?;
    check_token(&opts.token)?;
    if opts.ca_cert_hashes.is_empty() {
        return Err(Error::invalid(
            "CA certificate hash",
            "at least one is required (--discovery-token-ca-cert-hash sha256:...)",
        ));
    }
    for h in &opts.ca_cert_hashes {
        check_hash(h)?;
    }
    if let Some(n) = &opts.node_name
        && !is_dns_subdomain(n)
    {
        return Err(Error::invalid(
            "node name",
            format!("{n:?} is not a lower-case DNS name"),
        ));
    }
    for (k, v) in &opts.labels {
        check_label(k, v)?;
    }
    let taint = match &opts.taint {
        Some(t) => Taint::parse(t).map_err(|e| Error::invalid("taint", e.to_string()))?,
        None => Taint::default(),
    };
    let priority = opts
        .priority_class
        .as_deref()
        .unwrap_or(DEFAULT_PRIORITY_CLASS);
    if !PRIORITY_CLASSES.contains(&priority) {
        return Err(Error::invalid(
            "priority class",
            format!("{priority:?} is not one of {}", PRIORITY_CLASSES.join(", ")),
        ));
    }

    let mut extra: Vec<(&str, String)> = vec![("windows-priorityclass", priority.to_owned())];
    if !opts.labels.is_empty() {
        let labels = opts
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        extra.insert(0, ("node-labels", labels));
    }
    let api = version.rules()?.kubeadm_api;
    let extra_args = match api {
        KubeadmApi::V1beta3 => Value::Object(
            extra
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v)))
                .collect(),
        ),
        KubeadmApi::V1beta4 => Value::Array(
            extra
                .into_iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        ),
    };
    let mut taint_json = json!({"key": taint.key, "effect": taint.effect});
    if !taint.value.is_empty() {
        taint_json["value"] = json!(taint.value);
    }
    let mut registration = json!({
        "criSocket": CRI_SOCKET,
        "taints": [taint_json],
        "kubeletExtraArgs": extra_args,
    });
    if let Some(n) = &opts.node_name {
        registration["name"] = json!(n);
    }
    Ok(json!({
        "apiVersion": api.api_version(),
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": opts.api_server_endpoint,
                "token": opts.token,
                "caCertHashes": opts.ca_cert_hashes,
            },
        },
        "nodeRegistration": registration,
    }))
}

/// YAML of a `JoinConfiguration`.
pub fn to_yaml(config: &Value) -> Result<String, Error> {
    serde_saphyr::to_string(config).map_err(|e| Error::invalid("JoinConfiguration", e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opts() -> JoinOptions {
        JoinOptions {
            api_server_endpoint: "10.0.0.10:6443".into(),
            token: "abcdef.0123456789abcdef".into(),
            ca_cert_hashes: vec![format!("sha256:{}", "0".repeat(64))],
            node_name: Some("win-1".into()),
            labels: [("example.com/pool".to_string(), "win".to_string())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn api_version_boundary() {
        let old =
            join_configuration(&opts(), KubernetesVersion::parse("v1.30.14").unwrap()).unwrap();
        assert_eq!(old["apiVersion"], "kubeadm.k8s.io/v1beta3");
        let args = &old["nodeRegistration"]["kubeletExtraArgs"];
        assert_eq!(args["windows-priorityclass"], "ABOVE_NORMAL_PRIORITY_CLASS");
        assert_eq!(args["node-labels"], "example.com/pool=win");
        let new =
            join_configuration(&opts(), KubernetesVersion::parse("v1.31.0").unwrap()).unwrap();
        assert_eq!(new["apiVersion"], "kubeadm.k8s.io/v1beta4");
        assert_eq!(
            new["nodeRegistration"]["kubeletExtraArgs"],
            json!([
                {"name": "node-labels", "value": "example.com/pool=win"},
                {"name": "windows-priorityclass", "value": "ABOVE_NORMAL_PRIORITY_CLASS"},
            ])
        );
        for c in [&old, &new] {
            assert_eq!(c["nodeRegistration"]["criSocket"], CRI_SOCKET);
            assert_eq!(
                c["nodeRegistration"]["taints"],
                json!([{"key": "os", "value": "windows", "effect": "NoSchedule"}])
            );
        }
    }

    #[test]
    fn the_default_taint_is_the_one_the_policies_tolerate() {
        let c = join_configuration(&opts(), KubernetesVersion::parse("v1.33.1").unwrap()).unwrap();
        let t = Taint::default();
        assert_eq!(c["nodeRegistration"]["taints"][0]["key"], t.key.as_str());
        assert_eq!(
            c["nodeRegistration"]["taints"][0]["value"],
            t.value.as_str()
        );
        assert_eq!(
            c["nodeRegistration"]["taints"][0]["effect"],
            t.effect.as_str()
        );
    }

    #[test]
    fn bad_input_is_named() {
        let v = KubernetesVersion::parse("v1.31.0").unwrap();
        type Change = Box<dyn Fn(&mut JoinOptions)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|o| o.api_server_endpoint = "10.0.0.10".into()),
                "API server endpoint",
            ),
            (
                Box::new(|o| o.api_server_endpoint = "a b:6443".into()),
                "API server endpoint",
            ),
            (Box::new(|o| o.token = "short.token".into()), "token"),
            (
                Box::new(|o| o.ca_cert_hashes.clear()),
                "CA certificate hash",
            ),
            (
                Box::new(|o| o.ca_cert_hashes = vec!["md5:00".into()]),
                "CA certificate hash",
            ),
            (
                Box::new(|o| o.node_name = Some("Win_1".into())),
                "node name",
            ),
            (
                Box::new(|o| {
                    o.labels
                        .insert("node-role.kubernetes.io/worker".into(), "".into());
                }),
                "node label node-role.kubernetes.io/worker=",
            ),
            (
                Box::new(|o| {
                    o.labels.insert("a".into(), "-x".into());
                }),
                "node label a=-x",
            ),
            (Box::new(|o| o.taint = Some("os=windows".into())), "taint"),
            (
                Box::new(|o| o.priority_class = Some("FAST".into())),
                "priority class",
            ),
        ];
        for (change, what) in cases {
            let mut o = opts();
            change(&mut o);
            let e = join_configuration(&o, v).unwrap_err().to_string();
            assert!(e.starts_with(what), "{what}: {e}");
            assert!(
                !e.contains("0123456789abcdef") || what != "token",
                "token echoed: {e}"
            );
        }
        let mut o = opts();
        o.labels
            .insert("node.kubernetes.io/windows-pool".into(), "a".into());
        o.labels
            .insert("topology.kubernetes.io/zone".into(), "z1".into());
        assert!(join_configuration(&o, v).is_ok());
    }

    #[test]
    fn flags_win_over_the_file() {
        let mut file = opts();
        file.merge(JoinOptions {
            token: "zzzzzz.0123456789abcdef".into(),
            labels: [("b".to_string(), "c".to_string())].into(),
            ..Default::default()
        });
        assert_eq!(file.token, "zzzzzz.0123456789abcdef");
        assert_eq!(file.api_server_endpoint, "10.0.0.10:6443");
        assert_eq!(file.labels.len(), 2);
    }
}
