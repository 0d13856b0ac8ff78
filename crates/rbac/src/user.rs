//! Who is asking: the user name and groups RBAC subjects are matched against.

/// Prefix of every service account's user name (`system:serviceaccount:<ns>:<name>`).
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// Group every service account belongs to.
pub const ALL_SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// Prefix of the per-namespace service account group (`system:serviceaccounts:<ns>`).
pub const SERVICE_ACCOUNT_NAMESPACE_GROUP_PREFIX: &str = "system:serviceaccounts:";
/// Group the API server adds to every authenticated request.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// The identity a request is evaluated for: a user name and its groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name, e.g. `jane` or `system:serviceaccount:default:default`.
    pub name: String,
    /// Groups the user belongs to, matched against `Group` subjects.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user with the given name and groups.
    pub fn new<G: Into<String>>(
        name: impl Into<String>,
        groups: impl IntoIterator<Item = G>,
    ) -> Self {
        Self {
            name: name.into(),
            groups: groups.into_iter().map(Into::into).collect(),
        }
    }

    /// The identity a pod's service account has when it calls the API server:
    /// user `system:serviceaccount:<ns>:<name>` in groups `system:serviceaccounts`,
    /// `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        let mut user = Self::service_account_without_authenticated(namespace, name);
        user.groups.push(AUTHENTICATED_GROUP.to_owned());
        user
    }

    /// The service account identity without `system:authenticated`.
    ///
    /// This is what the reference gMSA webhook puts in its LocalSubjectAccessReview
    /// (user and the two service-account groups only), so rules granted to
    /// `system:authenticated` do not count there. Use this constructor to answer
    /// exactly what that webhook would.
    pub fn service_account_without_authenticated(namespace: &str, name: &str) -> Self {
        Self {
            name: service_account_user_name(namespace, name),
            groups: vec![
                ALL_SERVICE_ACCOUNTS_GROUP.to_owned(),
                format!("{SERVICE_ACCOUNT_NAMESPACE_GROUP_PREFIX}{namespace}"),
            ],
        }
    }

    /// Whether the user is a member of `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// The user name of a service account: `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_user_name(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

/// Whether `user_name` is the service account `namespace`/`name`, compared without allocating.
pub fn is_service_account_user(namespace: &str, name: &str, user_name: &str) -> bool {
    user_name
        .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
        .and_then(|rest| rest.strip_prefix(namespace))
        .and_then(|rest| rest.strip_prefix(':'))
        == Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_identity() {
        let u = UserInfo::service_account("team-a", "web");
        assert_eq!(u.name, "system:serviceaccount:team-a:web");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:team-a",
                "system:authenticated"
            ]
        );
        let u = UserInfo::service_account_without_authenticated("team-a", "web");
        assert!(!u.in_group(AUTHENTICATED_GROUP));
        assert!(u.in_group("system:serviceaccounts:team-a"));
    }

    #[test]
    fn service_account_user_matching() {
        assert!(is_service_account_user(
            "ns",
            "sa",
            "system:serviceaccount:ns:sa"
        ));
        assert!(is_service_account_user(
            "ns",
            "",
            "system:serviceaccount:ns:"
        ));
        assert!(!is_service_account_user(
            "ns",
            "sa",
            "system:serviceaccount:ns:sa2"
        ));
        assert!(!is_service_account_user(
            "n",
            "s:sa",
            "system:serviceaccount:ns:sa"
        ));
        assert!(!is_service_account_user(
            "ns",
            "sa",
            "system:serviceaccounts:ns:sa"
        ));
        assert!(!is_service_account_user("ns", "sa", "ns:sa"));
    }
}
