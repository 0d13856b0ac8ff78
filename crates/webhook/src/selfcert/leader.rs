//! What the Lease holder does on each tick: make or repair the Secret, renew the serving
//! certificate, step a CA rotation, and publish the Secret's CA bundle into every winkube
//! webhook configuration.
//!
//! Order keeps every moment safe: the Secret (what replicas serve) changes to a certificate of
//! a new CA only after every webhook configuration has been seen trusting that CA for the
//! propagation delay, and a CA leaves the bundle only after the serving certificate has been
//! another CA's for the propagation delay. A failed write changes nothing (resourceVersion
//! preconditions) and is retried on the next tick from what is stored.

use super::SelfCertConfig;
use super::pki;
use super::secret::{CertState, Phase};
use crate::Error;
use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::time::Instant;

pub(crate) struct Leader {
    client: Client,
    cfg: Arc<SelfCertConfig>,
    secrets: Api<Secret>,
    /// The bundle every webhook configuration was last seen carrying, and since when.
    confirmed: Option<(String, Instant)>,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Leader {
    pub fn new(client: Client, cfg: Arc<SelfCertConfig>) -> Self {
        let secrets = Api::namespaced(client.clone(), &cfg.namespace);
        Self {
            client,
            cfg,
            secrets,
            confirmed: None,
        }
    }

    /// A new CA and a serving certificate it signed.
    fn fresh(&self, now: i64) -> Result<CertState, Error> {
        let ca = pki::new_ca(self.cfg.ca_validity)?;
        let serving = pki::new_leaf(&ca, &self.cfg.dns_names(), self.cfg.validity)?;
        Ok(CertState {
            phase: Phase::Stable,
            phase_since: now,
            signer: ca,
            next: None,
            previous: None,
            serving,
        })
    }

    /// One tick. `Ok` also when another writer won a race: the next tick starts from what it
    /// wrote.
    pub async fn tick(&mut self) -> Result<(), Error> {
        let now = pki::unix_now();
        let name = self.cfg.secret_name.clone();
        let ns = self.cfg.namespace.clone();
        let state = match self.secrets.get_opt(&name).await? {
            None => {
                let state = self.fresh(now)?;
                match self
                    .secrets
                    .create(&PostParams::default(), &state.to_secret(&ns, &name))
                    .await
                {
                    Ok(_) => {
                        tracing::info!(secret = %format!("{ns}/{name}"), "created the webhook's CA and serving certificate")
                    }
                    Err(e) if is_conflict(&e) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                state
            }
            Some(secret) => {
                let rv = secret.metadata.resource_version.clone();
                let stored = match CertState::from_secret(&secret) {
                    Ok(s) => Some(s),
                    Err(reason) => {
                        // Made by hand or edited: replaced whole. Replicas keep serving what
                        // they loaded last until the new pair is in the Secret.
                        tracing::warn!(secret = %format!("{ns}/{name}"), %reason, "the certificate Secret is not usable; replacing it with a new CA and certificate");
                        None
                    }
                };
                let next = match &stored {
                    Some(s) => self.step(s, now)?,
                    None => Some(self.fresh(now)?),
                };
                match (next, stored.clone()) {
                    (None, Some(stored)) => stored,
                    (None, None) => return Ok(()),
                    (Some(next), _) => {
                        let mut secret = next.to_secret(&ns, &name);
                        secret.metadata.resource_version = rv;
                        match self
                            .secrets
                            .replace(&name, &PostParams::default(), &secret)
                            .await
                        {
                            Ok(_) => {}
                            Err(e) if is_conflict(&e) => return Ok(()),
                            Err(e) => return Err(e.into()),
                        }
                        if stored.as_ref().is_none_or(|s| s.phase != next.phase) {
                            tracing::info!(phase = next.phase.as_str(), "CA rotation phase");
                        }
                        next
                    }
                }
            }
        };
        let bundle = state.bundle();
        if let Err(e) = self.publish(&bundle).await {
            // Not everywhere: a rotation waits (the previous certificate keeps serving).
            self.confirmed = None;
            return Err(e);
        }
        if self.confirmed.as_ref().is_none_or(|(b, _)| *b != bundle) {
            self.confirmed = Some((bundle, Instant::now()));
        }
        Ok(())
    }

    /// The state that should follow `s`, or `None` to keep it.
    fn step(&self, s: &CertState, now: i64) -> Result<Option<CertState>, Error> {
        let cfg = &self.cfg;
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
        let propagated = |since: i64| now - since >= secs(cfg.propagation_delay).max(1);
        match s.phase {
            Phase::Prepare => {
                let bundle = s.bundle();
                let trusted_long_enough = self
                    .confirmed
                    .as_ref()
                    .is_some_and(|(b, at)| *b == bundle && at.elapsed() >= cfg.propagation_delay);
                if trusted_long_enough && let Some(next) = &s.next {
                    // Promote: every configuration trusts the new CA; serve its certificate.
                    return Ok(Some(CertState {
                        phase: Phase::Promoted,
                        phase_since: now,
                        signer: next.clone(),
                        next: None,
                        previous: Some(s.signer.cert.clone()),
                        serving: pki::new_leaf(next, &cfg.dns_names(), cfg.validity)?,
                    }));
                }
            }
            Phase::Promoted if propagated(s.phase_since) => {
                // Retire: every replica has had time to load the new certificate.
                return Ok(Some(CertState {
                    phase: Phase::Stable,
                    phase_since: now,
                    previous: None,
                    next: None,
                    ..s.clone()
                }));
            }
            Phase::Stable => {
                let ca_end = pki::not_after(&s.signer.cert)?;
                if ca_end - now < secs(cfg.validity) + secs(cfg.renew_before) {
                    // Prepare: a new CA, trusted beside the current one before it signs.
                    return Ok(Some(CertState {
                        phase: Phase::Prepare,
                        phase_since: now,
                        next: Some(pki::new_ca(cfg.ca_validity)?),
                        ..s.clone()
                    }));
                }
            }
            Phase::Promoted => {}
        }
        let leaf_end = pki::not_after(&s.serving.cert)?;
        if leaf_end - now < secs(cfg.renew_before)
            || !pki::leaf_matches(&s.serving.cert, &s.signer.cert, &cfg.dns_names())
        {
            // Renewal with the same CA: nothing to publish, replicas reload the Secret.
            return Ok(Some(CertState {
                serving: pki::new_leaf(&s.signer, &cfg.dns_names(), cfg.validity)?,
                ..s.clone()
            }));
        }
        Ok(None)
    }

    /// Sets `caBundle` of every webhook of every winkube webhook configuration to `bundle`.
    /// `Ok` when all of them carry it (absent configurations are skipped).
    async fn publish(&self, bundle: &str) -> Result<(), Error> {
        let want = base64::engine::general_purpose::STANDARD.encode(bundle.as_bytes());
        let kinds = [
            ApiResource::erase::<MutatingWebhookConfiguration>(&()),
            ApiResource::erase::<ValidatingWebhookConfiguration>(&()),
        ];
        let mut failures = Vec::new();
        for name in &self.cfg.webhook_configurations {
            for ar in &kinds {
                let api: Api<DynamicObject> = Api::all_with(self.client.clone(), ar);
                if let Err(e) = publish_one(&api, name, &want).await {
                    tracing::warn!(kind = %ar.kind, %name, error = %e, "could not set caBundle");
                    failures.push(format!("{} {name}: {e}", ar.kind));
                }
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::SelfCert(format!(
                "caBundle not published: {}",
                failures.join("; ")
            )))
        }
    }
}

/// One configuration: read, and if any webhook lacks the bundle, a merge patch of the whole
/// `webhooks` list as read, conditional on the resourceVersion read (409 if it changed).
async fn publish_one(api: &Api<DynamicObject>, name: &str, want: &str) -> Result<(), kube::Error> {
    let Some(obj) = api.get_opt(name).await? else {
        return Ok(());
    };
    let mut hooks = obj.data.get("webhooks").cloned().unwrap_or(Value::Null);
    let Some(list) = hooks.as_array_mut() else {
        return Ok(());
    };
    let mut changed = false;
    for hook in list.iter_mut() {
        let Some(cc) = hook.get_mut("clientConfig").and_then(Value::as_object_mut) else {
            continue;
        };
        if cc.get("caBundle").and_then(Value::as_str) != Some(want) {
            cc.insert("caBundle".into(), Value::String(want.to_owned()));
            changed = true;
        }
    }
    if !changed {
        return Ok(());
    }
    let patch = json!({
        "metadata": {"resourceVersion": obj.meta().resource_version},
        "webhooks": hooks,
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    tracing::info!(%name, "published the CA bundle");
    Ok(())
}
