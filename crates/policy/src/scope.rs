//! Which admission requests the gMSA review can concern, as one CEL expression for the
//! webhook configurations' `matchConditions`: the API server then sends only those pods.
//!
//! This is a security boundary (a pod with gMSA settings that is not sent keeps an unchecked
//! credential), so the expression is written here, beside the code that reads the same
//! places ([`crate::gmsa`] walks [`ContainerList::ALL`] and the pod itself): a list the
//! policy learns to read is a list the expression covers. `crates/cli/tests/match_conditions.rs`
//! evaluates it with a real CEL engine against a corpus and cross-checks it with
//! [`crate::review`].
//!
//! How the API server evaluates it (Kubernetes admission `matchConditions`, GA in 1.30):
//! `object` and `oldObject` are dynamically typed maps of the pod as the API server
//! re-encodes it (absent optional fields omitted); `object` is `null` on DELETE and
//! `oldObject` on CREATE. `has(a.b)` is false for an absent key and an error on `null`, so
//! every step is guarded; `containers` has no omitempty and is `null` in a pod without
//! containers (admission runs before validation), so the lists are checked for `null` too. A key holding an empty string is present: an empty
//! `gmsaCredentialSpecName` is sent (the review denies it).

use crate::wire::ContainerList;

/// The `name` of the match condition (a Kubernetes qualified name).
pub const GMSA_MATCH_CONDITION_NAME: &str = "gmsa-settings-in-object-or-old-object";

/// The windowsOptions fields that make a place gMSA-relevant.
const GMSA_FIELDS: [&str; 2] = ["gmsaCredentialSpecName", "gmsaCredentialSpec"];

/// The CEL expression: true when `object` or `oldObject` sets `gmsaCredentialSpecName` or
/// `gmsaCredentialSpec` (even to "") in the pod's securityContext or in the securityContext
/// of any container, init container or ephemeral container.
pub fn gmsa_match_expression() -> String {
    ["object", "oldObject"].map(pod_sets_gmsa).join("\n|| ")
}

/// `pod` (a CEL variable) is a pod with gMSA settings somewhere.
fn pod_sets_gmsa(pod: &str) -> String {
    let spec = format!("{pod}.spec");
    let mut places = vec![security_context_sets_gmsa(&spec)];
    for list in ContainerList::ALL {
        let field = format!("{spec}.{}", list.field());
        places.push(format!(
            "(has({field}) && {field} != null && {field}.exists(c, {}))",
            security_context_sets_gmsa("c")
        ));
    }
    format!(
        "({pod} != null && has({spec}) && (\n  {}))",
        places.join("\n  || ")
    )
}

/// `holder.securityContext.windowsOptions` sets one of [`GMSA_FIELDS`].
fn security_context_sets_gmsa(holder: &str) -> String {
    let sc = format!("{holder}.securityContext");
    let wo = format!("{sc}.windowsOptions");
    let fields = GMSA_FIELDS.map(|f| format!("has({wo}.{f})")).join(" || ");
    format!("(has({sc}) && has({wo}) && ({fields}))")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expression_names_every_place_and_field_the_policy_reads() {
        let e = gmsa_match_expression();
        for var in ["object", "oldObject"] {
            assert!(e.contains(&format!("{var} != null")), "{e}");
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                assert!(
                    e.contains(&format!(
                        "has({var}.spec.{list}) && {var}.spec.{list} != null && {var}.spec.{list}.exists("
                    )),
                    "{list} of {var}"
                );
            }
            for f in GMSA_FIELDS {
                assert!(e.contains(&format!(
                    "has({var}.spec.securityContext.windowsOptions.{f})"
                )));
            }
        }
        // Balanced parentheses: a cheap guard before the CEL tests parse it.
        assert_eq!(e.matches('(').count(), e.matches(')').count());
    }

    #[test]
    fn condition_name_is_a_qualified_name() {
        let n = GMSA_MATCH_CONDITION_NAME;
        assert!(n.len() <= 63);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert!(n.as_bytes()[0].is_ascii_alphanumeric());
        assert!(n.as_bytes()[n.len() - 1].is_ascii_alphanumeric());
    }
}
