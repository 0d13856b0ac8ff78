//! The rules behind every finding, in one table: id (stable: tools and CI filters key on
//! it), default severity, short and full help, and how to fix it. The policies report
//! findings by these ids ([`crate::outcome::Finding::rule`]); `winkube lint` prints them
//! and writes them into SARIF's `tool.driver.rules`; docs/rules.md lists them. An id, once
//! released, is never reused for another rule.

use crate::outcome::Severity;

/// One rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `gmsa/credspec-not-found`: the policy, then the check.
    pub id: &'static str,
    /// The severity a finding of this rule has with the default policy; a finding may be
    /// reported at another (an enforce-mode rule in warn mode is a warning, a fix the
    /// mutating phase makes is a note).
    pub severity: Severity,
    /// One line.
    pub short: &'static str,
    /// What the rule checks and why.
    pub full: &'static str,
    /// What to change in the manifest (or the cluster).
    pub fix: &'static str,
}

const fn rule(
    id: &'static str,
    severity: Severity,
    short: &'static str,
    full: &'static str,
    fix: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        short,
        full,
        fix,
    }
}

use Severity::{Error, Warning};

/// Every rule, gMSA first, then the Windows policies, then what `winkube` checks of the
/// cluster state it was given.
pub const RULES: &[Rule] = &[
    // --- gMSA (the reference webhook's rules) ------------------------------------------
    rule(
        "gmsa/invalid-review",
        Error,
        "The admission request cannot be read",
        "The AdmissionReview or the pod in it does not decode (malformed JSON, not a Pod, an unknown operation). The API server never sends such a request; a manifest that gets here is not a pod.",
        "Send a Pod (or a workload whose template is one) that the API server accepts.",
    ),
    rule(
        "gmsa/manifest-ambiguous",
        Error,
        "A key of the pod manifest reads as another field to the webhook",
        "The API server reads manifest keys exactly; the gMSA webhook, like the Go reference, folds their case. A key such as `GMSACredentialSpecName` next to `gmsaCredentialSpecName` means one field to one and another to the other, so the pod is refused rather than judged on a field the API server ignores.",
        "Spell every key exactly as in the Kubernetes API and remove the duplicate.",
    ),
    rule(
        "gmsa/credspec-not-found",
        Error,
        "The GMSACredentialSpec the pod names does not exist",
        "windowsOptions.gmsaCredentialSpecName names a GMSACredentialSpec that is not in the cluster (or not in the state given to winkube), so the webhook cannot inline its contents and the pod is denied (404).",
        "Create the GMSACredentialSpec (`winkube credspec new ...`), fix the name, or pass the cluster state with --state.",
    ),
    rule(
        "gmsa/credspec-no-contents",
        Error,
        "The GMSACredentialSpec has no credspec key",
        "The GMSACredentialSpec exists but has no `credspec` field, so there is nothing to inline (417).",
        "Recreate the GMSACredentialSpec with its `credspec` contents (`winkube credspec import` reads New-CredentialSpec's JSON).",
    ),
    rule(
        "gmsa/credspec-unavailable",
        Error,
        "The GMSACredentialSpec could not be read",
        "The webhook could not read the GMSACredentialSpec (an empty name, or the API server did not answer), so the pod is denied (500).",
        "Name the credspec, and check that the webhook can read GMSACredentialSpecs.",
    ),
    rule(
        "gmsa/contents-without-name",
        Error,
        "gMSA contents are set without the credspec's name",
        "windowsOptions.gmsaCredentialSpec (the contents) is set but gmsaCredentialSpecName is not, so nobody can check that the pod may use these credentials (422).",
        "Set gmsaCredentialSpecName and remove gmsaCredentialSpec: the webhook inlines the contents.",
    ),
    rule(
        "gmsa/use-not-authorized",
        Error,
        "The pod's service account may not use the GMSACredentialSpec",
        "Only service accounts granted `use` on a GMSACredentialSpec (an RBAC Role or ClusterRole with verbs [use] on gmsacredentialspecs, bound to the service account) may run pods with it (403).",
        "Bind the service account to a role that may `use` the credspec (`winkube credspec new --service-account NS/NAME` prints one), or run the pod as a service account that has it.",
    ),
    rule(
        "gmsa/contents-mismatch",
        Error,
        "The inlined gMSA contents differ from the GMSACredentialSpec",
        "windowsOptions.gmsaCredentialSpec does not match the contents of the GMSACredentialSpec it names, so the pod would run with credentials nobody granted (422).",
        "Remove gmsaCredentialSpec from the manifest and let the webhook inline it.",
    ),
    rule(
        "gmsa/contents-not-inlined",
        Warning,
        "The credspec's contents were not inlined",
        "The validating webhook saw a credspec name without contents: the mutating webhook probably is not installed, and the container will start without its gMSA.",
        "Install the mutating webhook (`winkube manifests`).",
    ),
    rule(
        "gmsa/settings-immutable",
        Error,
        "A running pod's gMSA settings were changed",
        "gMSA settings of an existing pod cannot change (403): the container already runs with its credentials.",
        "Delete and recreate the pod (or roll out the workload) instead of updating it.",
    ),
    rule(
        "gmsa/internal-error",
        Error,
        "The gMSA review failed",
        "The pod could not be encoded or the mutating patch did not apply (500). This is a bug.",
        "Report it with the manifest.",
    ),
    // --- Windows workload policies ------------------------------------------------------
    rule(
        "windows/malformed-pod",
        Error,
        "The pod cannot be checked or fixed",
        "The pod has no spec, or a field the Windows policies must change has the wrong type (400).",
        "Fix the field's type as the Kubernetes API defines it.",
    ),
    rule(
        "windows/os-invalid",
        Error,
        "An OS field names an OS no node has",
        "spec.os.name, the kubernetes.io/os node selector or the RuntimeClass names an OS other than lowercase `windows` or `linux`; no node matches and the pod stays Pending.",
        "Use `windows` or `linux`, in lowercase.",
    ),
    rule(
        "windows/os-conflict",
        Error,
        "The pod's OS signals disagree",
        "spec.os.name, the kubernetes.io/os selector, windowsOptions, the RuntimeClass and the images say different things about the OS the pod runs on.",
        "Make them agree: a Windows pod sets spec.os.name=windows and selects kubernetes.io/os=windows.",
    ),
    rule(
        "windows/os-unknown",
        Warning,
        "The pod's OS could not be determined",
        "The pod has no OS field, selector or windowsOptions and its images could not be resolved, so the Windows policies were not applied (a warning with `onUnresolved: allow`, a denial with `deny`).",
        "Set spec.os.name, or pin the image metadata in the state directory's images.yaml.",
    ),
    rule(
        "windows/runtimeclass-not-found",
        Warning,
        "The pod's RuntimeClass does not exist",
        "spec.runtimeClassName names a RuntimeClass that is not in the cluster; the API server rejects the pod.",
        "Create the RuntimeClass (`winkube runtimeclass`) or fix the name.",
    ),
    rule(
        "windows/runtimeclass-unavailable",
        Warning,
        "The pod's RuntimeClass could not be read",
        "The RuntimeClass could not be read, so its scheduling (node selector, tolerations) was not considered.",
        "Check that the webhook can read RuntimeClasses.",
    ),
    rule(
        "windows/runtimeclass-selector-conflict",
        Error,
        "The pod's node selector contradicts its RuntimeClass",
        "The RuntimeClass admission plugin rejects a pod whose nodeSelector sets a key of the RuntimeClass's scheduling to another value.",
        "Remove the key from the pod's nodeSelector (the RuntimeClass sets it) or use another RuntimeClass.",
    ),
    rule(
        "windows/node-selector",
        Error,
        "A Windows pod does not select Windows nodes",
        "Without nodeSelector kubernetes.io/os=windows a Windows pod can be scheduled onto a Linux node, where it never starts. In enforce mode the mutating webhook adds it.",
        "Add `nodeSelector: {kubernetes.io/os: windows}` to the pod template.",
    ),
    rule(
        "windows/taint-toleration",
        Error,
        "A Windows pod does not tolerate the Windows nodes' taint",
        "The policy's taint keeps other pods off the Windows nodes; a Windows pod without the toleration cannot be scheduled onto them. In enforce mode the mutating webhook adds it.",
        "Add the toleration for the Windows nodes' taint to the pod template.",
    ),
    rule(
        "windows/os-name",
        Error,
        "A Windows pod does not set spec.os.name",
        "With `scheduling.setOsName`, Windows pods must set spec.os.name=windows (the API server then validates the pod as a Windows pod). In enforce mode the mutating webhook sets it.",
        "Add `os: {name: windows}` to the pod spec.",
    ),
    rule(
        "windows/linux-pinning",
        Error,
        "A Linux pod does not select Linux nodes",
        "A Linux pod without nodeSelector kubernetes.io/os=linux can land on an untainted Windows node. In enforce mode the mutating webhook adds it.",
        "Add `nodeSelector: {kubernetes.io/os: linux}` to the pod template.",
    ),
    rule(
        "windows/memory-invalid",
        Error,
        "A memory request or limit is not a quantity",
        "The memory value does not parse as a Kubernetes quantity.",
        "Write the memory as a quantity such as 512Mi or 2Gi.",
    ),
    rule(
        "windows/memory-milli",
        Error,
        "A memory value is in millibytes",
        "A memory value with the suffix `m` means milli (thousandths of a byte), not mega; the container gets almost no memory.",
        "Write Mi (mebibytes) or M (megabytes) instead of m.",
    ),
    rule(
        "windows/memory-floor",
        Error,
        "A Windows container's memory is below the floor",
        "Every Windows container runs its own system services; below the policy's floor it fails to start or is starved.",
        "Raise the memory request and limit to at least the floor (memory.floor in the policy file).",
    ),
    rule(
        "windows/memory-limit-missing",
        Error,
        "A Windows container has no memory limit",
        "Windows has no OOM killer: a container without a memory limit can exhaust the node. In `default` mode the mutating webhook sets the limit to the request (at least the floor).",
        "Set resources.limits.memory on every container.",
    ),
    rule(
        "windows/image-reference-invalid",
        Warning,
        "An image reference does not parse",
        "The container's image is not a valid image reference.",
        "Write the image as registry/repository:tag or @sha256:digest.",
    ),
    rule(
        "windows/image-tag-floating",
        Warning,
        "A Windows image uses no tag or `latest`",
        "A Windows image must match the node's Windows build; a floating tag can move to a build the nodes cannot run.",
        "Use a versioned tag (such as ltsc2022) or pin a digest.",
    ),
    rule(
        "windows/image-metadata",
        Warning,
        "An image's metadata could not be read",
        "The registry did not answer for an image (or gave no pinned metadata with --offline); the policies that need its platforms fell back or were skipped.",
        "Pin the image's platforms in the state directory's images.yaml, or give winkube access to the registry.",
    ),
    rule(
        "windows/image-not-windows",
        Error,
        "An image has no Windows platform",
        "The image provides no windows platform, so it cannot run on a Windows node.",
        "Use a Windows image, or run the pod on Linux.",
    ),
    rule(
        "windows/image-arch",
        Error,
        "An image has no Windows platform of the node architecture",
        "The image provides windows platforms, but none of the architecture the pod (or the policy) selects.",
        "Use an image built for that architecture, or select another architecture.",
    ),
    rule(
        "windows/image-build-unresolved",
        Warning,
        "An image's Windows build could not be resolved",
        "OS-build compatibility was not checked for images whose metadata could not be read (a warning with `onUnresolved: allow`, a denial with `deny`).",
        "Pin the image's platforms in images.yaml, or give winkube access to the registry.",
    ),
    rule(
        "windows/build-selector-invalid",
        Error,
        "The pod selects a Windows build that is not one",
        "The node.kubernetes.io/windows-build selector is not major.minor.build (such as 10.0.20348).",
        "Select a build such as 10.0.20348.",
    ),
    rule(
        "windows/build-selector-mismatch",
        Error,
        "The pod selects a Windows build its images cannot run on",
        "Under process isolation the host's Windows build must match the image's; the selected build does not fit the pod's images.",
        "Select a build the images are built for, use images for the selected build, or use Hyper-V isolation.",
    ),
    rule(
        "windows/build-incompatible",
        Error,
        "No Windows build can run all of the pod's images",
        "The pod's images are built for Windows builds no single host can run under the pod's isolation.",
        "Use images built for the same Windows build.",
    ),
    rule(
        "windows/build-no-node",
        Warning,
        "No Windows node can run the pod yet",
        "No node of a Windows build that fits the pod's images is in the cluster; the pod stays Pending until one joins.",
        "Add a node of a fitting build, or use images for the builds the cluster has.",
    ),
    rule(
        "windows/build-not-selected",
        Error,
        "The pod does not select the only Windows build its images run on",
        "The pod's images run on one Windows build only, but the pod does not select it and can be scheduled where it cannot start. In enforce mode the mutating webhook adds the selector.",
        "Add `nodeSelector: {node.kubernetes.io/windows-build: <build>}` to the pod template.",
    ),
    rule(
        "windows/build-affinity",
        Error,
        "Nothing keeps the pod off Windows nodes of builds its images cannot run on",
        "Several Windows builds fit the pod's images but some nodes are of other builds. In enforce mode the mutating webhook adds a required node affinity on node.kubernetes.io/windows-build.",
        "Add a required node affinity on node.kubernetes.io/windows-build with the fitting builds.",
    ),
    rule(
        "windows/gmsa-domain-readiness",
        Error,
        "A gMSA container does not wait for its domain trust",
        "A container that uses gMSA can start before the node's domain trust is ready and fail its first authentication. In enforce mode the mutating webhook adds a postStart hook that waits for it.",
        "Add a postStart hook that waits for the domain trust (nltest /sc_verify).",
    ),
    // --- what the API server refuses in Windows fields ---------------------------------
    rule(
        "windows/run-as-user-name-invalid",
        Error,
        "runAsUserName is not a user name the API server accepts",
        "The API server validates windowsOptions.runAsUserName: not empty, no control characters, at most one backslash, a domain under 256 bytes in NetBIOS (1-15 characters) or DNS format, a user of 1-104 bytes that is not only periods or spaces and has none of \"/\\:;|=,+*?<>@[]. The pod is refused at apply time (from Kubernetes 1.16).",
        "Write the user as USER or DOMAIN\\USER (for example ContainerUser or NT AUTHORITY\\NETWORK SERVICE).",
    ),
    rule(
        "windows/gmsa-credspec-name-invalid",
        Error,
        "gmsaCredentialSpecName is not a lowercase DNS-1123 subdomain",
        "GMSACredentialSpec names are resource names: lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253. The API server refuses any other gmsaCredentialSpecName (older gMSA docs show gmsa-WebApp1, which fails).",
        "Use the GMSACredentialSpec's name in lower case (and rename the GMSACredentialSpec if it has capitals).",
    ),
    rule(
        "windows/gmsa-credspec-invalid",
        Error,
        "gmsaCredentialSpec is empty or over 64 KiB",
        "The API server refuses an empty windowsOptions.gmsaCredentialSpec and one over 64 KiB.",
        "Leave gmsaCredentialSpec unset and name the GMSACredentialSpec in gmsaCredentialSpecName: the webhook fills the contents in.",
    ),
    rule(
        "windows/field-forbidden-on-windows",
        Error,
        "A field that a Windows pod cannot set",
        "With spec.os.name: windows the API server refuses Linux-only security fields: pod-level seLinuxOptions, seccompProfile, appArmorProfile, fsGroup, fsGroupChangePolicy, sysctls, runAsUser, runAsGroup, supplementalGroups, supplementalGroupsPolicy, seLinuxChangePolicy, hostPID, hostIPC, hostUsers, shareProcessNamespace; and in every container seLinuxOptions, seccompProfile, appArmorProfile, capabilities, readOnlyRootFilesystem, privileged, allowPrivilegeEscalation, procMount, runAsUser, runAsGroup. Pointer fields count as set even when false (privileged: false is refused). From Kubernetes 1.24 (fields added later from their release).",
        "Remove the field from the Windows pod template (use windowsOptions.runAsUserName for the user).",
    ),
    rule(
        "windows/windows-options-on-linux",
        Error,
        "windowsOptions on a pod with spec.os.name: linux",
        "The API server refuses securityContext.windowsOptions, at pod or container level, on a pod that declares spec.os.name: linux (from Kubernetes 1.24).",
        "Remove windowsOptions, or set spec.os.name: windows if the pod is a Windows pod.",
    ),
    rule(
        "windows/host-process-mixed",
        Error,
        "HostProcess on some containers but not all",
        "The API server refuses a pod in which some containers (init and ephemeral included, explicitly or inherited from the pod) are HostProcess containers and others are not, and a container whose hostProcess differs from the pod's when both are given (from Kubernetes 1.23).",
        "Set securityContext.windowsOptions.hostProcess: true at pod level and remove the container-level values.",
    ),
    rule(
        "windows/host-process-host-network",
        Error,
        "A HostProcess pod without hostNetwork: true",
        "HostProcess containers share the node's network; the API server refuses a pod with HostProcess containers unless spec.hostNetwork is true (from Kubernetes 1.23).",
        "Add spec.hostNetwork: true.",
    ),
    // --- Windows pod security -----------------------------------------------------------
    rule(
        "windows/host-process-namespace",
        Error,
        "A HostProcess container outside the namespaces allowed to run them",
        "A HostProcess container runs on the node as SYSTEM or a node service account, with the node's network, files and processes: whoever may create it in a namespace owns the node. winkube allows them only in hostProcess.allowedNamespaces (default kube-system), at pod level and in every container kind, ephemeral containers (kubectl debug) included.",
        "Run node agents in an allowed namespace, or add the namespace to hostProcess.allowedNamespaces in the policy file.",
    ),
    rule(
        "windows/container-administrator",
        Warning,
        "A container runs as ContainerAdministrator",
        "runAsUserName: ContainerAdministrator (set on the container, or on the pod and inherited) gives the process administrator rights inside the container, which few workloads need; a container escape starts from a stronger position.",
        "Use runAsUserName: ContainerUser, or remove it where the image's default user is ContainerUser (nanoserver).",
    ),
    // --- cluster state given to winkube -------------------------------------------------
    rule(
        "state/service-account-not-found",
        Warning,
        "The pod's service account is not in the cluster state",
        "Cluster state was given, but the pod's service account is not in it; the API server refuses pods whose service account does not exist.",
        "Create the ServiceAccount (and add it to the state directory), or fix serviceAccountName.",
    ),
    rule(
        "state/no-credspecs",
        Warning,
        "The cluster state has no GMSACredentialSpec",
        "A credspec was not found and the cluster state has none at all: usually no --state was given, or the state directory lacks the credspecs.",
        "Build a state directory from the cluster (kubectl get gmsacredentialspecs,clusterroles,clusterrolebindings,roles,rolebindings,nodes,runtimeclasses -A -o yaml > state/cluster.yaml) and pass --state state/.",
    ),
];

/// The rule with this id.
pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_namespaced_and_texts_set() {
        let mut seen = std::collections::HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            let (group, name) = r.id.split_once('/').unwrap_or(("", ""));
            assert!(
                ["gmsa", "windows", "state"].contains(&group),
                "{}: unknown group",
                r.id
            );
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}: ids are lowercase-kebab",
                r.id
            );
            for text in [r.short, r.full, r.fix] {
                assert!(!text.trim().is_empty(), "{}: empty text", r.id);
            }
            assert!(!r.short.ends_with('.'), "{}: short help is a title", r.id);
        }
        assert_eq!(
            rule_by_id("windows/memory-floor").map(|r| r.severity),
            Some(Error)
        );
        assert!(rule_by_id("windows/nope").is_none());
    }
}
