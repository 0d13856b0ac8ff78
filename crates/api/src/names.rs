//! Name formats that Kubernetes and Active Directory objects share across winkube: one
//! definition each, so the webhook, the node agent and the generators agree on them.

/// A DNS-1123 label: namespaces, RuntimeClass handlers (lower-case letters, digits and '-',
/// at most 63, starting and ending alphanumeric).
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: most resource names. At most 253 in all; as in Kubernetes'
/// `IsDNS1123Subdomain`, its dot-separated parts have no length limit of their own.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A DNS domain name such as `contoso.com` or `CORP.contoso.com`: letters of either case,
/// digits and '-' in dot-separated labels of at most 63, at most 253 in all.
pub fn is_dns_domain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// A GUID without braces: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal digits.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert!(is_dns1123_label("web-1"));
        assert!(!is_dns1123_label("web.1"));
        assert!(!is_dns1123_label("-web"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("gmsa.webapp-1"));
        assert!(!is_dns1123_subdomain("Gmsa"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(is_dns1123_subdomain(&"a".repeat(64)));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(is_dns_domain_name("CORP.contoso.com"));
        assert!(!is_dns_domain_name("con_toso.com"));
        assert!(!is_dns_domain_name("contoso.com."));
        assert!(is_guid("244818ae-87ac-4fcd-92ec-e79e5252348a"));
        assert!(!is_guid("{244818ae-87ac-4fcd-92ec-e79e5252348a}"));
        assert!(!is_guid("244818ae-87ac-4fcd-92ec-e79e5252348g"));
    }
}
