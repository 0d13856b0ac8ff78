//! Windows pod security: HostProcess containers outside the allowed namespaces, and
//! containers that run as `ContainerAdministrator`. Both look at the pod-level setting and
//! at every container kind (init and ephemeral included), because a container inherits
//! the pod's `windowsOptions` unless it sets its own: checking only one level, as the
//! general policy engines do, misses the other.

use serde_json::Value;

use super::api_server::{container_path, host_process_value};
use super::{At, Ctx};
use crate::windows::PolicyName;
use crate::windows::config::Mode;
use crate::windows::pod::{containers, get_str};

/// The user part of a `runAsUserName` (`User Manager\ContainerAdministrator` →
/// `ContainerAdministrator`).
fn user_part(name: &str) -> &str {
    name.rsplit('\\').next().unwrap_or(name)
}

fn is_container_administrator(name: &str) -> bool {
    user_part(name).eq_ignore_ascii_case("ContainerAdministrator")
}

fn run_as_user_name(v: &Value) -> Option<&str> {
    get_str(v, &["securityContext", "windowsOptions", "runAsUserName"])
}

impl Ctx<'_> {
    /// HostProcess containers share the node's network, file system and processes, as SYSTEM
    /// or a service account of the node: only `hostProcess.allowedNamespaces` may run them.
    /// One finding per field that turns HostProcess on, so the user sees each to remove.
    pub(in crate::windows) fn host_process_namespace(&mut self) {
        let cfg = &self.config.host_process;
        let mode = cfg.mode;
        if mode == Mode::Off || cfg.allowed_namespaces.iter().any(|n| n == self.namespace) {
            return;
        }
        let allowed = if cfg.allowed_namespaces.is_empty() {
            "none".to_owned()
        } else {
            cfg.allowed_namespaces.join(", ")
        };
        let mut fields: Vec<(Vec<String>, String)> = Vec::new();
        let pod_value = host_process_value(self.spec);
        // On an ephemeral-containers update only what the update adds is judged.
        if pod_value == Some(true) && !self.ephemeral_only {
            fields.push((
                ["spec", "securityContext", "windowsOptions", "hostProcess"]
                    .map(String::from)
                    .to_vec(),
                "the pod's securityContext.windowsOptions.hostProcess makes its containers HostProcess containers".into(),
            ));
        }
        for c in containers(self.spec) {
            if self.ephemeral_only && c.list != "ephemeralContainers" {
                continue;
            }
            let own = host_process_value(c.value);
            let mut p = container_path(&c);
            match own {
                Some(true) => {
                    p.extend(
                        ["securityContext", "windowsOptions", "hostProcess"].map(String::from),
                    );
                    fields.push((p, format!("{} is a HostProcess container", c.label())));
                }
                // Inherited from the pod: already reported there, except on an
                // ephemeral-containers update, where the new container is what is added.
                None if pod_value == Some(true) && self.ephemeral_only => fields.push((
                    p,
                    format!("{} is a HostProcess container (from the pod)", c.label()),
                )),
                _ => {}
            }
        }
        let namespace = self.namespace;
        for (field, what) in fields {
            self.violate(
                At::field("windows/host-process-namespace", &field),
                PolicyName::HostProcess,
                mode,
                format!(
                    "{what}; HostProcess containers run with the node's privileges, and namespace {namespace:?} may not run them (hostProcess.allowedNamespaces: {allowed})"
                ),
            );
        }
    }

    /// `runAsUserName: ContainerAdministrator` where it takes effect: set on a container, or
    /// set on the pod and inherited by a container that sets no user of its own.
    pub(in crate::windows) fn container_administrator(&mut self) {
        let mode = self.config.container_administrator.mode;
        if mode == Mode::Off {
            return;
        }
        let mut fields: Vec<(Vec<String>, String)> = Vec::new();
        let pod_admin = run_as_user_name(self.spec).is_some_and(is_container_administrator);
        let mut inheritors = Vec::new();
        for c in containers(self.spec) {
            if self.ephemeral_only && c.list != "ephemeralContainers" {
                continue;
            }
            match run_as_user_name(c.value) {
                Some(name) if is_container_administrator(name) => {
                    let mut p = container_path(&c);
                    p.extend(
                        ["securityContext", "windowsOptions", "runAsUserName"].map(String::from),
                    );
                    fields.push((p, c.label().to_string()));
                }
                None if pod_admin => inheritors.push(c.label().to_string()),
                _ => {}
            }
        }
        if !inheritors.is_empty() {
            fields.insert(
                0,
                (
                    ["spec", "securityContext", "windowsOptions", "runAsUserName"]
                        .map(String::from)
                        .to_vec(),
                    format!("the pod's default user (for {})", inheritors.join(", ")),
                ),
            );
        }
        for (field, what) in fields {
            self.violate(
                At::field("windows/container-administrator", &field),
                PolicyName::ContainerAdministrator,
                mode,
                format!(
                    "{what} runs as ContainerAdministrator, the administrator of the container; use ContainerUser unless the workload needs administrator rights"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_administrator_names() {
        assert!(is_container_administrator("ContainerAdministrator"));
        assert!(is_container_administrator("containeradministrator"));
        assert!(is_container_administrator(
            "User Manager\\ContainerAdministrator"
        ));
        assert!(!is_container_administrator("ContainerUser"));
        assert!(!is_container_administrator("ContainerAdministrators"));
    }
}
