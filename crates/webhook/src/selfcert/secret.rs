//! The self-managed certificates as they are kept in their Secret: every CA and the serving
//! pair, and the rotation phase in annotations, so any replica (a new leader, or one restarted
//! mid-rotation) continues from what is stored.

use super::pki::{self, Pem};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;
use std::collections::BTreeMap;

/// The rotation phase.
pub const PHASE_ANNOTATION: &str = "winkube.io/ca-phase";
/// When the phase began (Unix seconds).
pub const PHASE_SINCE_ANNOTATION: &str = "winkube.io/ca-phase-since";
/// The CAs the webhook configurations must trust now (what `caBundle` is set to).
pub const BUNDLE_KEY: &str = "ca.crt";
pub const TLS_CERT_KEY: &str = "tls.crt";
pub const TLS_KEY_KEY: &str = "tls.key";
const SIGNER_CERT_KEY: &str = "ca-signer.crt";
const SIGNER_KEY_KEY: &str = "ca-signer.key";
const NEXT_CERT_KEY: &str = "ca-next.crt";
const NEXT_KEY_KEY: &str = "ca-next.key";
const PREVIOUS_CERT_KEY: &str = "ca-previous.crt";

/// Where a CA rotation stands. Each step changes what is trusted or what is served, never
/// both: trust is widened before serving changes, and narrowed only after it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// One CA, trusted and signing the serving certificate.
    Stable,
    /// A new CA made and trusted beside the signing one; serving is unchanged until every
    /// webhook configuration carries both.
    Prepare,
    /// The serving certificate is the new CA's; the old CA is still trusted until every
    /// replica has reloaded.
    Promoted,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stable => "stable",
            Phase::Prepare => "prepare",
            Phase::Promoted => "promoted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "stable" => Some(Phase::Stable),
            "prepare" => Some(Phase::Prepare),
            "promoted" => Some(Phase::Promoted),
            _ => None,
        }
    }
}

/// Everything the Secret holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertState {
    pub phase: Phase,
    pub phase_since: i64,
    /// The CA that signed `serving`.
    pub signer: Pem,
    /// The CA being introduced (`Prepare` only).
    pub next: Option<Pem>,
    /// The CA being retired (`Promoted` only).
    pub previous: Option<String>,
    pub serving: Pem,
}

impl CertState {
    /// The CAs the webhook configurations must trust in this phase.
    pub fn bundle(&self) -> String {
        match (self.phase, &self.next, &self.previous) {
            (Phase::Prepare, Some(next), _) => pki::bundle(&[&self.signer.cert, &next.cert]),
            (Phase::Promoted, _, Some(prev)) => pki::bundle(&[prev, &self.signer.cert]),
            _ => pki::bundle(&[&self.signer.cert]),
        }
    }

    /// The Secret holding this state (`kubernetes.io/tls`, so the usual tools read it).
    pub fn to_secret(&self, namespace: &str, name: &str) -> Secret {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        };
        put(TLS_CERT_KEY, &self.serving.cert);
        put(TLS_KEY_KEY, &self.serving.key);
        put(BUNDLE_KEY, &self.bundle());
        put(SIGNER_CERT_KEY, &self.signer.cert);
        put(SIGNER_KEY_KEY, &self.signer.key);
        if let Some(next) = &self.next {
            put(NEXT_CERT_KEY, &next.cert);
            put(NEXT_KEY_KEY, &next.key);
        }
        if let Some(prev) = &self.previous {
            put(PREVIOUS_CERT_KEY, prev);
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "winkube".to_owned(),
                )])),
                annotations: Some(BTreeMap::from([
                    (PHASE_ANNOTATION.to_owned(), self.phase.as_str().to_owned()),
                    (
                        PHASE_SINCE_ANNOTATION.to_owned(),
                        self.phase_since.to_string(),
                    ),
                ])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_owned()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Reads the state back; `Err` says what is missing or unusable (a Secret made by hand,
    /// or edited).
    pub fn from_secret(secret: &Secret) -> Result<Self, String> {
        let ann = secret.metadata.annotations.as_ref();
        let phase = ann
            .and_then(|a| a.get(PHASE_ANNOTATION))
            .ok_or_else(|| format!("no {PHASE_ANNOTATION} annotation"))?;
        let phase = Phase::parse(phase).ok_or_else(|| format!("unknown phase {phase:?}"))?;
        let phase_since = ann
            .and_then(|a| a.get(PHASE_SINCE_ANNOTATION))
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| format!("no valid {PHASE_SINCE_ANNOTATION} annotation"))?;
        let data = secret.data.as_ref();
        let text = |k: &str| -> Result<Option<String>, String> {
            match data.and_then(|d| d.get(k)) {
                None => Ok(None),
                Some(b) => String::from_utf8(b.0.clone())
                    .map(Some)
                    .map_err(|_| format!("{k} is not UTF-8 PEM")),
            }
        };
        let need = |k: &str| text(k)?.ok_or_else(|| format!("no {k}"));
        let pair = |cert_key: &str, key_key: &str| -> Result<Pem, String> {
            let pem = Pem {
                cert: need(cert_key)?,
                key: need(key_key)?,
            };
            pki::not_after(&pem.cert).map_err(|e| format!("{cert_key}: {e}"))?;
            rcgen::KeyPair::from_pem(&pem.key).map_err(|e| format!("{key_key}: {e}"))?;
            Ok(pem)
        };
        let signer = pair(SIGNER_CERT_KEY, SIGNER_KEY_KEY)?;
        let serving = pair(TLS_CERT_KEY, TLS_KEY_KEY)?;
        let next = match phase {
            Phase::Prepare => Some(pair(NEXT_CERT_KEY, NEXT_KEY_KEY)?),
            _ => None,
        };
        let previous = match phase {
            Phase::Promoted => {
                let p = need(PREVIOUS_CERT_KEY)?;
                pki::not_after(&p).map_err(|e| format!("{PREVIOUS_CERT_KEY}: {e}"))?;
                Some(p)
            }
            _ => None,
        };
        Ok(Self {
            phase,
            phase_since,
            signer,
            next,
            previous,
            serving,
        })
    }
}

/// The serving pair of a Secret (what every replica reads), if present.
pub fn serving_pair(secret: &Secret) -> Option<(&[u8], &[u8])> {
    let data = secret.data.as_ref()?;
    Some((&data.get(TLS_CERT_KEY)?.0, &data.get(TLS_KEY_KEY)?.0))
}
