//! The talk's fourth gMSA note: a `postStart` hook that restarts Netlogon until
//! `nltest /sc_verify` reports a working domain trust, bounded in time.

use serde_json::{Value, json};

use super::config::GmsaReadinessConfig;
use super::pod::get;

/// The gMSA settings a container (or the pod) carries.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Gmsa {
    /// The domain's DNS name from the inlined credspec, when the pod carries one.
    pub domain: Option<String>,
}

/// The gMSA of a pod spec or container, from `securityContext.windowsOptions`.
pub(crate) fn gmsa_of(v: &Value) -> Option<Gmsa> {
    let w = get(v, &["securityContext", "windowsOptions"])?;
    let name = w.get("gmsaCredentialSpecName").and_then(Value::as_str);
    let spec = w.get("gmsaCredentialSpec").and_then(Value::as_str);
    if name.is_none() && spec.is_none() {
        return None;
    }
    let domain = spec
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|cs| {
            cs.get("DomainJoinConfig")?
                .get("DnsName")?
                .as_str()
                .map(str::to_owned)
        })
        .filter(|d| is_dns_name(d));
    Some(Gmsa { domain })
}

/// Only DNS names go into the script (no quoting games).
fn is_dns_name(s: &str) -> bool {
    winkube_api::names::is_dns_domain_name(s)
}

/// The PowerShell that the hook runs.
pub(crate) fn script(g: &Gmsa, cfg: &GmsaReadinessConfig) -> String {
    let domain = match &g.domain {
        Some(d) => format!("$d = '{d}'"),
        None => "$d = $env:USERDNSDOMAIN; if (-not $d) { $d = (Get-CimInstance Win32_ComputerSystem).Domain }"
            .to_owned(),
    };
    format!(
        "{domain}; $end = (Get-Date).AddSeconds({t}); while ($true) {{ nltest \"/sc_verify:$d\" *> $null; if ($LASTEXITCODE -eq 0) {{ exit 0 }}; if ((Get-Date) -ge $end) {{ Write-Error \"winkube: domain trust to $d still failing after {t}s\"; exit 1 }}; Restart-Service -Name Netlogon -Force -ErrorAction SilentlyContinue; Start-Sleep -Seconds {i} }}",
        t = cfg.timeout_seconds,
        i = cfg.interval_seconds,
    )
}

/// The `lifecycle.postStart` value.
pub(crate) fn post_start(g: &Gmsa, cfg: &GmsaReadinessConfig) -> Value {
    json!({"exec": {"command": [
        "powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", script(g, cfg)
    ]}})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn domain_from_inline_credspec_only_when_dns() {
        let v = json!({"securityContext": {"windowsOptions": {
            "gmsaCredentialSpec": "{\"DomainJoinConfig\":{\"DnsName\":\"corp.example.com\"}}"}}});
        assert_eq!(
            gmsa_of(&v).unwrap().domain.as_deref(),
            Some("corp.example.com")
        );
        let evil = json!({"securityContext": {"windowsOptions": {
            "gmsaCredentialSpec": "{\"DomainJoinConfig\":{\"DnsName\":\"x'; rm -r c:\\\\\"}}"}}});
        assert_eq!(gmsa_of(&evil).unwrap().domain, None);
        assert!(
            gmsa_of(&json!({"securityContext": {"windowsOptions": {"runAsUserName": "a"}}}))
                .is_none()
        );
        let s = script(&Gmsa { domain: None }, &GmsaReadinessConfig::default());
        assert!(
            s.contains("USERDNSDOMAIN")
                && s.contains("AddSeconds(120)")
                && s.contains("Start-Sleep -Seconds 5")
        );
    }
}
