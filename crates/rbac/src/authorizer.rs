//! The RBAC authorizer: which bindings apply to a user, which rules they grant, and
//! the decision with Kubernetes' own wording.

use std::fmt::{self, Write as _};
use std::ops::ControlFlow;
use std::sync::Arc;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleRef, Subject};

use crate::request::Request;
use crate::rules::{RuleMismatch, rule_allows, rule_mismatch};
use crate::source::RbacSource;
use crate::user::{UserInfo, is_service_account_user};

/// The outcome of [`authorize`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether some binding grants the request.
    pub allowed: bool,
    /// On allow, names the binding, role and subject, as the API server does:
    /// `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"`.
    /// On deny, empty unless a binding that applies to the user references a role
    /// that cannot be resolved; then, like the API server, `RBAC: <error>` (or
    /// `RBAC: [<error>, <error>]` for several distinct errors).
    pub reason: String,
}

/// Why evaluation of one binding's role failed (upstream wording in `Display`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleResolutionError {
    /// The Role does not exist in the binding's namespace (`""` for a ClusterRoleBinding).
    RoleNotFound {
        /// The Role's name.
        name: String,
    },
    /// The ClusterRole does not exist.
    ClusterRoleNotFound {
        /// The ClusterRole's name.
        name: String,
    },
    /// roleRef.kind is neither Role nor ClusterRole.
    UnsupportedKind {
        /// The kind given.
        kind: String,
    },
}

impl fmt::Display for RoleResolutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RoleNotFound { name } => {
                write!(
                    f,
                    "role.rbac.authorization.k8s.io {} not found",
                    GoQuoted(&[name])
                )
            }
            Self::ClusterRoleNotFound { name } => {
                write!(
                    f,
                    "clusterrole.rbac.authorization.k8s.io {} not found",
                    GoQuoted(&[name])
                )
            }
            Self::UnsupportedKind { kind } => {
                write!(f, "unsupported role reference kind: {}", GoQuoted(&[kind]))
            }
        }
    }
}

/// What one binding that applies to the user contributes to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingOutcome {
    /// Rule number `rule` of the role grants the request.
    Allows {
        /// Index in the role's rules.
        rule: usize,
    },
    /// The role could not be resolved, so the binding grants nothing.
    RoleUnresolved(RoleResolutionError),
    /// The role resolved but no rule grants the request; for each rule, the first check it failed.
    NoRuleMatches {
        /// One entry per rule, in order.
        rules: Vec<RuleMismatch>,
    },
}

/// One binding that applies to the user, as reported by [`explain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingReport {
    /// Upstream's description: `RoleBinding "name/namespace" of Role "r" to ServiceAccount "sa/ns"`.
    pub binding: String,
    /// What it contributes.
    pub outcome: BindingOutcome,
}

/// The decision together with every binding that applies to the user, for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The same decision [`authorize`] returns.
    pub decision: Decision,
    /// ClusterRoleBindings, then RoleBindings of the request's namespace, whose subjects
    /// include the user; bindings for other users are left out.
    pub bindings: Vec<BindingReport>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.decision.allowed {
            "allowed"
        } else {
            "denied"
        };
        write!(f, "{verdict}")?;
        if !self.decision.reason.is_empty() {
            write!(f, ": {}", self.decision.reason)?;
        }
        if self.bindings.is_empty() {
            return write!(
                f,
                "\nno ClusterRoleBinding, and no RoleBinding in the request's namespace, has the user as a subject"
            );
        }
        for b in &self.bindings {
            write!(f, "\n- {}: ", b.binding)?;
            match &b.outcome {
                BindingOutcome::Allows { rule } => write!(f, "rules[{rule}] grants the request")?,
                BindingOutcome::RoleUnresolved(e) => write!(f, "grants nothing: {e}")?,
                BindingOutcome::NoRuleMatches { rules } if rules.is_empty() => {
                    write!(f, "the role has no rules")?
                }
                BindingOutcome::NoRuleMatches { rules } => {
                    f.write_str("no rule grants the request (")?;
                    for (i, m) in rules.iter().enumerate() {
                        let sep = if i == 0 { "" } else { "; " };
                        write!(f, "{sep}rules[{i}]: {m}")?;
                    }
                    f.write_str(")")?;
                }
            }
        }
        Ok(())
    }
}

/// Evaluates `request` for `user` over the RBAC objects of `source`, exactly as the
/// Kubernetes RBAC authorizer does: ClusterRoleBindings apply everywhere, RoleBindings
/// only to requests in their own namespace; a RoleBinding's `Role` is looked up in the
/// binding's namespace; a binding whose role does not exist grants nothing. Aggregated
/// ClusterRoles are evaluated with the rules stored in them (which the API server's
/// aggregation controller keeps filled in a live cluster).
///
/// Allocates only for the reason string (and role errors on deny).
pub fn authorize<'r, S: RbacSource + ?Sized>(
    source: &S,
    user: &UserInfo,
    request: impl Into<Request<'r>>,
) -> Decision {
    let request = request.into();
    let mut reason = None;
    let mut errors: Vec<RoleResolutionError> = Vec::new();
    walk(source, user, &request, &mut |binding, role| match role {
        Ok(role) => {
            if role.rules().iter().any(|r| rule_allows(r, &request)) {
                reason = Some(format!("RBAC: allowed by {binding}"));
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        Err(e) => {
            errors.push(e);
            ControlFlow::Continue(())
        }
    });
    match reason {
        Some(reason) => Decision {
            allowed: true,
            reason,
        },
        None => Decision {
            allowed: false,
            reason: denial_reason(&errors),
        },
    }
}

/// Like [`authorize`], but visits every binding that applies to the user and reports
/// what each contributes, so a denial can be explained. `decision` equals what
/// [`authorize`] returns.
pub fn explain<'r, S: RbacSource + ?Sized>(
    source: &S,
    user: &UserInfo,
    request: impl Into<Request<'r>>,
) -> Explanation {
    let request = request.into();
    let mut bindings = Vec::new();
    let mut allowed_by = None;
    let mut errors = Vec::new();
    walk(source, user, &request, &mut |binding, role| {
        let outcome = match role {
            Ok(role) => {
                let rules: Vec<_> = role
                    .rules()
                    .iter()
                    .map(|r| rule_mismatch(r, &request))
                    .collect();
                match rules.iter().position(Option::is_none) {
                    Some(rule) => {
                        allowed_by.get_or_insert_with(|| format!("RBAC: allowed by {binding}"));
                        BindingOutcome::Allows { rule }
                    }
                    None => BindingOutcome::NoRuleMatches {
                        rules: rules.into_iter().flatten().collect(),
                    },
                }
            }
            Err(e) => {
                // authorize stops at the first grant, so only errors before it count.
                if allowed_by.is_none() {
                    errors.push(e.clone());
                }
                BindingOutcome::RoleUnresolved(e)
            }
        };
        bindings.push(BindingReport {
            binding: binding.to_string(),
            outcome,
        });
        ControlFlow::Continue(())
    });
    let decision = match allowed_by {
        Some(reason) => Decision {
            allowed: true,
            reason,
        },
        None => Decision {
            allowed: false,
            reason: denial_reason(&errors),
        },
    };
    Explanation { decision, bindings }
}

/// Upstream: `fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))`, which drops
/// repeated messages and brackets a list of more than one.
fn denial_reason(errors: &[RoleResolutionError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let mut seen: Vec<String> = Vec::new();
    for e in errors {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    if seen.len() == 1 {
        format!("RBAC: {}", seen[0])
    } else {
        format!("RBAC: [{}]", seen.join(", "))
    }
}

/// A resolved role: its rules, held by the `Arc` the source handed out.
enum ResolvedRole {
    Role(Arc<Role>),
    ClusterRole(Arc<ClusterRole>),
}

impl ResolvedRole {
    fn rules(&self) -> &[PolicyRule] {
        match self {
            ResolvedRole::Role(r) => r.rules.as_deref().unwrap_or_default(),
            ResolvedRole::ClusterRole(r) => r.rules.as_deref().unwrap_or_default(),
        }
    }
}

fn resolve<S: RbacSource + ?Sized>(
    source: &S,
    role_ref: &RoleRef,
    binding_namespace: &str,
) -> Result<ResolvedRole, RoleResolutionError> {
    // roleRef.apiGroup is not checked, as upstream.
    match role_ref.kind.as_str() {
        "Role" => source
            .role(binding_namespace, &role_ref.name)
            .map(ResolvedRole::Role)
            .ok_or_else(|| RoleResolutionError::RoleNotFound {
                name: role_ref.name.clone(),
            }),
        "ClusterRole" => source
            .cluster_role(&role_ref.name)
            .map(ResolvedRole::ClusterRole)
            .ok_or_else(|| RoleResolutionError::ClusterRoleNotFound {
                name: role_ref.name.clone(),
            }),
        other => Err(RoleResolutionError::UnsupportedKind {
            kind: other.to_owned(),
        }),
    }
}

/// Upstream's `appliesToUser`. A ServiceAccount subject without a namespace means the
/// binding's namespace (so only in RoleBindings; in a ClusterRoleBinding it matches
/// nobody). Subject apiGroup is ignored.
fn subject_applies(user: &UserInfo, subject: &Subject, binding_namespace: &str) -> bool {
    match subject.kind.as_str() {
        "User" => user.name == subject.name,
        "Group" => user.in_group(&subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            !ns.is_empty() && is_service_account_user(ns, &subject.name, &user.name)
        }
        _ => false,
    }
}

fn first_applying<'a>(
    user: &UserInfo,
    subjects: &'a Option<Vec<Subject>>,
    binding_namespace: &str,
) -> Option<&'a Subject> {
    subjects
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|s| subject_applies(user, s, binding_namespace))
}

/// Upstream's describers, formatted lazily so the allow path pays only when it allows.
struct BindingDescription<'a> {
    cluster: bool,
    name: &'a str,
    namespace: &'a str,
    role_ref: &'a RoleRef,
    subject: &'a Subject,
}

impl fmt::Display for BindingDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Upstream quotes "name/namespace" for RoleBindings (sic) and "sa/namespace" for service accounts.
        if self.cluster {
            write!(f, "ClusterRoleBinding {}", GoQuoted(&[self.name]))?;
        } else {
            write!(
                f,
                "RoleBinding {}",
                GoQuoted(&[self.name, "/", self.namespace])
            )?;
        }
        write!(
            f,
            " of {} {} to {} ",
            self.role_ref.kind,
            GoQuoted(&[&self.role_ref.name]),
            self.subject.kind
        )?;
        if self.subject.kind == "ServiceAccount" {
            let ns = self
                .subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(if self.cluster { "" } else { self.namespace });
            write!(f, "{}", GoQuoted(&[&self.subject.name, "/", ns]))
        } else {
            write!(f, "{}", GoQuoted(&[&self.subject.name]))
        }
    }
}

/// Called with each applying binding and its role; breaks to stop the walk.
type BindingVisitor<'v> = dyn FnMut(&BindingDescription<'_>, Result<ResolvedRole, RoleResolutionError>) -> ControlFlow<()>
    + 'v;

/// Visits, in upstream order, each binding with a subject matching `user` together
/// with its resolved role: ClusterRoleBindings first, then RoleBindings of the
/// request's namespace (none for cluster-wide requests).
fn walk<S: RbacSource + ?Sized>(
    source: &S,
    user: &UserInfo,
    request: &Request<'_>,
    visit: &mut BindingVisitor<'_>,
) {
    let flow = source.visit_cluster_role_bindings(&mut |crb| {
        let Some(subject) = first_applying(user, &crb.subjects, "") else {
            return ControlFlow::Continue(());
        };
        let description = BindingDescription {
            cluster: true,
            name: crb.metadata.name.as_deref().unwrap_or_default(),
            namespace: "",
            role_ref: &crb.role_ref,
            subject,
        };
        visit(&description, resolve(source, &crb.role_ref, ""))
    });
    let namespace = request.namespace();
    if flow.is_break() || namespace.is_empty() {
        return;
    }
    let _ = source.visit_role_bindings(namespace, &mut |rb| {
        // Sources are asked for one namespace; a sloppy one must not leak others' grants.
        if rb.metadata.namespace.as_deref().unwrap_or_default() != namespace {
            return ControlFlow::Continue(());
        }
        let Some(subject) = first_applying(user, &rb.subjects, namespace) else {
            return ControlFlow::Continue(());
        };
        let description = BindingDescription {
            cluster: false,
            name: rb.metadata.name.as_deref().unwrap_or_default(),
            namespace,
            role_ref: &rb.role_ref,
            subject,
        };
        visit(&description, resolve(source, &rb.role_ref, namespace))
    });
}

/// Writes the concatenation of `parts` the way Go's `%q` (`strconv.Quote`) does.
struct GoQuoted<'a>(&'a [&'a str]);

impl fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        for c in self.0.iter().flat_map(|p| p.chars()) {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\u{7}' => f.write_str("\\a")?,
                '\u{8}' => f.write_str("\\b")?,
                '\u{c}' => f.write_str("\\f")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\u{b}' => f.write_str("\\v")?,
                c if go_printable(c) => f.write_char(c)?,
                c if (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
                c if (c as u32) < 0x10000 => write!(f, "\\u{:04x}", c as u32)?,
                c => write!(f, "\\U{:08x}", c as u32)?,
            }
        }
        f.write_char('"')
    }
}

/// Approximates Go's `unicode.IsPrint`: graphic characters and the ASCII space;
/// other spaces, controls and common format characters are escaped.
fn go_printable(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoting() {
        assert_eq!(GoQuoted(&["a", "/", "b"]).to_string(), "\"a/b\"");
        assert_eq!(GoQuoted(&["x\"y\\z"]).to_string(), r#""x\"y\\z""#);
        assert_eq!(
            GoQuoted(&["\n\t\u{1}\u{7f}"]).to_string(),
            r#""\n\t\x01\x7f""#
        );
        assert_eq!(GoQuoted(&["é\u{a0}"]).to_string(), "\"é\\u00a0\"");
    }

    #[test]
    fn aggregate_denial_reason() {
        let a = RoleResolutionError::RoleNotFound { name: "a".into() };
        let b = RoleResolutionError::UnsupportedKind { kind: "Foo".into() };
        assert_eq!(denial_reason(&[]), "");
        assert_eq!(
            denial_reason(&[a.clone(), a.clone()]),
            r#"RBAC: role.rbac.authorization.k8s.io "a" not found"#
        );
        assert_eq!(
            denial_reason(&[a, b]),
            r#"RBAC: [role.rbac.authorization.k8s.io "a" not found, unsupported role reference kind: "Foo"]"#
        );
    }
}
