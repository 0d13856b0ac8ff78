//! The gMSA admission review: the reference webhook's rules (kubernetes-sigs/windows-gmsa),
//! extended to init and ephemeral containers and to the `pods/ephemeralcontainers`
//! subresource, answering with the reference's AdmissionReview bytes.

use crate::contents::{Comparison, compare};
use crate::gofmt::{push_json_string, quote};
use crate::outcome::{Finding, Operation, Outcome, Phase, Severity, field_path, pod_display_name};
use crate::view::{ClusterView, CredSpecLookup, SharedCredSpec, UseDecision};
pub use crate::wire::ShadowedKey;
use crate::wire::{self, ContainerList, Object, Pod, WindowsOptions};
use base64::Engine as _;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Per-request inputs that are not in the body; the caller generates randomness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewContext {
    /// `Some(h)` iff `RANDOM_HOSTNAME` is on; `h` is the 15-character hostname the caller
    /// generated for this request (the reference uses the first 15 characters of a UUIDv4).
    pub random_hostname: Option<String>,
}

/// The result of [`admit_pod`].
#[derive(Clone, Debug, PartialEq)]
pub struct Admitted {
    pub allowed: bool,
    /// 200 when allowed.
    pub code: u16,
    /// The denial's message; empty when allowed.
    pub message: String,
    /// The mutated pod when allowed, the original pod when denied.
    pub pod: serde_json::Value,
    /// Warnings of both phases, mutate first.
    pub warnings: Vec<String>,
    /// The warnings, then the denial if any, with their rules and fields.
    pub findings: Vec<Finding>,
}

/// Reviews the raw body of a POST to `/mutate` or `/validate`.
pub async fn review<V: ClusterView>(
    phase: Phase,
    body: &[u8],
    view: &V,
    ctx: &ReviewContext,
) -> Outcome {
    let text = crate::wire::body_text(body);
    decide(phase, &text, view, ctx).await.render()
}

/// The response for a body that could not be read (reference P1), for the HTTP layer.
pub fn unreadable_body(err: impl std::fmt::Display) -> Outcome {
    Decision::deny(
        String::new(),
        Denial::new(
            "gmsa/invalid-review",
            400,
            format!("couldn't read request body: {err}"),
        ),
    )
    .render()
}

/// Checks that a Pod manifest means the same to the API server and to this policy: the API
/// server decodes manifests with exact keys, the reviews it sends are decoded here the Go
/// way (keys folded). A key the fold would read as another field is refused. Run it on
/// every manifest before [`admit_pod`] to report the key as an input error.
pub fn check_manifest_keys(pod: &serde_json::Value) -> Result<(), ShadowedKey> {
    wire::check_pod_keys(pod)
}

/// Offline admission of one Pod manifest as the API server would run it: mutate (CREATE),
/// apply the patch, then validate (CREATE) the result. A pod that fails
/// [`check_manifest_keys`] is denied (400) without being reviewed.
pub async fn admit_pod<V: ClusterView>(
    pod: &serde_json::Value,
    namespace: &str,
    view: &V,
    ctx: &ReviewContext,
) -> Admitted {
    let denied = |d: Denial, warnings: Vec<String>, mut findings: Vec<Finding>| {
        findings.push(d.finding());
        Admitted {
            allowed: false,
            code: d.code,
            message: d.message,
            pod: pod.clone(),
            warnings,
            findings,
        }
    };
    if let Err(e) = check_manifest_keys(pod) {
        let field = (!e.path.is_empty()).then(|| e.path.clone());
        return denied(
            Denial::new(
                "gmsa/manifest-ambiguous",
                400,
                format!("the pod manifest is ambiguous: {e}"),
            )
            .at(field),
            Vec::new(),
            Vec::new(),
        );
    }
    let internal = |message: String| Denial::new("gmsa/internal-error", 500, message);
    let mutate_body = match create_review(pod, namespace) {
        Ok(b) => b,
        Err(e) => {
            return denied(
                internal(format!("unable to encode the pod: {e}")),
                Vec::new(),
                Vec::new(),
            );
        }
    };
    let mutated = decide(Phase::Mutate, &mutate_body, view, ctx).await;
    let mut warnings = mutated.warnings;
    let mut findings = mutated.findings;
    if let Some(d) = mutated.denial {
        return denied(d, warnings, findings);
    }
    let mut new_pod = pod.clone();
    if !mutated.ops.is_empty() {
        let applied = serde_json::from_str::<json_patch::Patch>(&patch_json(&mutated.ops))
            .map_err(|e| e.to_string())
            .and_then(|p| json_patch::patch(&mut new_pod, &p).map_err(|e| e.to_string()));
        if let Err(e) = applied {
            return denied(
                internal(format!("unable to apply the mutating patch: {e}")),
                warnings,
                findings,
            );
        }
    }
    let validate_body = match create_review(&new_pod, namespace) {
        Ok(b) => b,
        Err(e) => {
            return denied(
                internal(format!("unable to encode the pod: {e}")),
                warnings,
                findings,
            );
        }
    };
    let validated = decide(Phase::Validate, &validate_body, view, ctx).await;
    warnings.extend(validated.warnings);
    findings.extend(validated.findings);
    match validated.denial {
        Some(d) => denied(d, warnings, findings),
        None => Admitted {
            allowed: true,
            code: 200,
            message: String::new(),
            pod: new_pod,
            warnings,
            findings,
        },
    }
}

/// The AdmissionReview the API server would send for creating `pod` in `namespace`.
fn create_review(pod: &serde_json::Value, namespace: &str) -> Result<String, serde_json::Error> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    serde_json::to_string(&serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "winkube-admit",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": name,
            "namespace": namespace,
            "operation": "CREATE",
            "object": pod,
        }
    }))
}

#[derive(Debug)]
struct Denial {
    /// The rule ([`crate::catalog::RULES`]) and the pod field the denial is about.
    rule: &'static str,
    field: Option<String>,
    code: u16,
    message: String,
}

impl Denial {
    fn new(rule: &'static str, code: u16, message: String) -> Self {
        Denial {
            rule,
            field: None,
            code,
            message,
        }
    }

    fn at(mut self, field: Option<String>) -> Self {
        self.field = field;
        self
    }

    fn finding(&self) -> Finding {
        Finding::new(self.rule, Severity::Error, self.message.clone()).at(self.field.clone())
    }
}

#[derive(Debug)]
struct PatchOp {
    path: String,
    value: PatchValue,
}

/// What an `add` op writes: a credspec's contents (JSON-encoded once per credspec, not per
/// review) or another string.
#[derive(Debug)]
enum PatchValue {
    Contents(SharedCredSpec),
    Text(String),
}

impl PatchValue {
    /// Upper bound of the encoded length, for buffer sizing.
    fn encoded_len(&self) -> usize {
        match self {
            PatchValue::Contents(cs) => cs.canonical().len() * 2 + 2,
            PatchValue::Text(t) => t.len() + 2,
        }
    }
}

#[derive(Debug, Default)]
struct Decision {
    uid: String,
    /// For logs: the request's namespace and the pod's display name.
    namespace: String,
    name: String,
    denial: Option<Denial>,
    ops: Vec<PatchOp>,
    warnings: Vec<String>,
    /// The warnings with their rules and fields (the denial's finding is added on render).
    findings: Vec<Finding>,
    /// For metrics.
    operation: Operation,
}

impl Decision {
    fn deny(uid: String, denial: Denial) -> Self {
        Decision {
            uid,
            denial: Some(denial),
            ..Decision::default()
        }
    }

    fn render(self) -> Outcome {
        let mut s = String::with_capacity(
            160 + self.denial.as_ref().map_or(0, |d| d.message.len())
                + self
                    .ops
                    .iter()
                    .map(|o| (o.value.encoded_len() + o.path.len() + 48) * 4 / 3)
                    .sum::<usize>(),
        );
        s.push_str(
            r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"#,
        );
        push_json_string(&mut s, &self.uid);
        s.push_str(if self.denial.is_some() {
            r#","allowed":false"#
        } else {
            r#","allowed":true"#
        });
        if let Some(d) = &self.denial {
            s.push_str(r#","status":{"metadata":{},"message":"#);
            push_json_string(&mut s, &d.message);
            s.push_str(r#","code":"#);
            s.push_str(&d.code.to_string());
            s.push('}');
        }
        if !self.ops.is_empty() {
            s.push_str(r#","patch":""#);
            base64::engine::general_purpose::STANDARD
                .encode_string(patch_json(&self.ops).as_bytes(), &mut s);
            s.push_str(r#"","patchType":"JSONPatch""#);
        }
        if !self.warnings.is_empty() {
            s.push_str(r#","warnings":["#);
            for (i, w) in self.warnings.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_json_string(&mut s, w);
            }
            s.push(']');
        }
        s.push_str("}}");
        let mut findings = self.findings;
        if let Some(d) = &self.denial {
            findings.push(d.finding());
        }
        let (allowed, code, message) = match self.denial {
            None => (true, 200, String::new()),
            Some(d) => (false, d.code, d.message),
        };
        Outcome {
            body: s.into_bytes(),
            uid: self.uid,
            allowed,
            code,
            message,
            patch_ops: self.ops.len(),
            warnings: self.warnings,
            namespace: self.namespace,
            name: self.name,
            operation: self.operation,
            findings,
        }
    }
}

/// The JSON patch as the reference writes it: Go `json.Marshal` of `map[string]string`
/// ops (keys `op`, `path`, `value`; strings HTML-safe escaped).
fn patch_json(ops: &[PatchOp]) -> String {
    let mut s = String::with_capacity(
        2 + ops
            .iter()
            .map(|o| o.value.encoded_len() + o.path.len() + 48)
            .sum::<usize>(),
    );
    s.push('[');
    for (i, op) in ops.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"op":"add","path":"#);
        push_json_string(&mut s, &op.path);
        s.push_str(r#","value":"#);
        match &op.value {
            PatchValue::Contents(cs) => s.push_str(cs.patch_value()),
            PatchValue::Text(t) => push_json_string(&mut s, t),
        }
        s.push('}');
    }
    s.push(']');
    s
}

/// Runs the checks of the reference in its order (P2..P7), then the phase's rules.
async fn decide<V: ClusterView>(
    phase: Phase,
    text: &str,
    view: &V,
    ctx: &ReviewContext,
) -> Decision {
    let mut req = match wire::decode_review(text) {
        Err(e) => {
            return Decision::deny(
                String::new(),
                Denial::new(
                    "gmsa/invalid-review",
                    400,
                    format!("unable to unmarshall JSON body as an admission review: {e}"),
                ),
            );
        }
        Ok(None) => {
            return Decision::deny(
                String::new(),
                Denial::new(
                    "gmsa/invalid-review",
                    400,
                    "no 'Request' field in JSON body".into(),
                ),
            );
        }
        Ok(Some(r)) => r,
    };
    let uid = req.uid().to_owned();
    // Denials from here on name the namespace (for logs) and the operation (for metrics).
    let namespace = req.namespace().to_owned();
    let op = Operation::from_wire(req.operation());
    let deny = |code: u16, message: String| Decision {
        namespace: namespace.clone(),
        operation: op,
        ..Decision::deny(
            uid.clone(),
            Denial::new("gmsa/invalid-review", code, message),
        )
    };
    if req.kind() != "Pod" {
        return deny(400, format!("expected a Pod object, got a {}", req.kind()));
    }
    let object = std::mem::replace(&mut req.object, Object::Raw(None));
    let pod = match object.into_pod() {
        Ok(p) => p,
        Err(e) => {
            return deny(400, format!("unable to unmarshall pod JSON object: {e}"));
        }
    };
    let operation = req.operation();
    let create = match operation {
        "CREATE" => true,
        "UPDATE" => false,
        other => return deny(400, format!("unpexpected operation {other}")),
    };
    let ephemeral = !create && req.sub_resource() == "ephemeralcontainers";
    let old = if !create && (phase == Phase::Validate || ephemeral) {
        match wire::decode_pod(req.old_object) {
            Ok(p) => Some(p),
            Err(e) => {
                return deny(400, format!("unable to unmarshall pod JSON object: {e}"));
            }
        }
    } else {
        None
    };
    let subject = Subject {
        pod_name: pod_display_name(pod.name(), req.name(), pod.generate_name()),
        pod: &pod,
        namespace: req.namespace(),
    };
    let mut decision = Decision {
        uid,
        namespace,
        name: subject.pod_name.clone().into_owned(),
        operation: op,
        ..Decision::default()
    };
    let result = match (phase, old.as_ref()) {
        (Phase::Mutate, None) if create => subject.mutate_create(view, ctx, &mut decision.ops),
        (Phase::Mutate, Some(old)) => subject.mutate_new_ephemeral(old, view, &mut decision.ops),
        (Phase::Mutate, None) => Ok(()),
        (Phase::Validate, None) => {
            let uses = subject.ask_uses(view, |_| true, None).await;
            let mut result = Ok(());
            for (t, o) in subject.targets() {
                result = subject.validate_create(&t, o, &uses, view, &mut decision.findings);
                if result.is_err() {
                    break;
                }
            }
            result
        }
        (Phase::Validate, Some(old)) => {
            let is_new = |t: &Target<'_>| ephemeral && t.is_new_ephemeral(old);
            let uses = subject.ask_uses(view, is_new, Some(old)).await;
            let mut result = Ok(());
            for (t, o) in subject.targets() {
                result = if is_new(&t) {
                    subject.validate_create(&t, o, &uses, view, &mut decision.findings)
                } else {
                    subject.validate_unchanged(&t, o, old)
                };
                if result.is_err() {
                    break;
                }
            }
            result
        }
    };
    decision.warnings = decision
        .findings
        .iter()
        .map(|f| f.message.clone())
        .collect();
    if let Err(d) = result {
        decision.ops.clear();
        decision.denial = Some(d);
    }
    decision
}

/// The field naming the credspec, and the one holding its contents.
const NAME: &str = "gmsaCredentialSpecName";
const CONTENTS: &str = "gmsaCredentialSpec";

/// One place that holds windowsOptions: the pod, or a member of one of its container lists.
struct Target<'p> {
    list: Option<ContainerList>,
    index: usize,
    name: &'p str,
}

impl Target<'_> {
    fn kind(&self) -> &'static str {
        self.list.map_or("pod", ContainerList::kind)
    }

    /// `spec.containers[1].securityContext.windowsOptions.<field>` (or the pod's).
    fn options_field(&self, field: &str) -> String {
        let index = self.index.to_string();
        let mut path = vec!["spec"];
        if let Some(l) = self.list {
            path.push(l.field());
            path.push(&index);
        }
        path.extend(["securityContext", "windowsOptions", field]);
        field_path(&path)
    }

    fn contents_path(&self) -> String {
        match self.list {
            None => "/spec/securityContext/windowsOptions/gmsaCredentialSpec".to_owned(),
            Some(l) => format!(
                "/spec/{}/{}/securityContext/windowsOptions/gmsaCredentialSpec",
                l.field(),
                self.index
            ),
        }
    }

    /// An ephemeral container that the old pod does not have (by name).
    fn is_new_ephemeral(&self, old: &Pod<'_>) -> bool {
        self.list == Some(ContainerList::EphemeralContainers)
            && !old
                .list(ContainerList::EphemeralContainers)
                .iter()
                .flatten()
                .any(|c| c.name() == self.name)
    }

    /// The windowsOptions of the same place in `old`; containers are matched by name within
    /// the same list, the last one winning like the reference's map.
    fn old_options<'o>(&self, old: &'o Pod<'_>) -> Option<&'o WindowsOptions<'o>> {
        match self.list {
            None => old.pod_options(),
            Some(l) => old
                .list(l)
                .iter()
                .flatten()
                .rfind(|c| c.name() == self.name)?
                .options(),
        }
    }
}

struct Subject<'p> {
    pod: &'p Pod<'p>,
    pod_name: Cow<'p, str>,
    namespace: &'p str,
}

impl<'p> Subject<'p> {
    /// Every windowsOptions in order: pod, containers, init containers, ephemeral containers.
    fn targets(&self) -> impl Iterator<Item = (Target<'_>, &'p WindowsOptions<'p>)> + '_ {
        let pod_level = self.pod.pod_options().map(|o| {
            let t = Target {
                list: None,
                index: 0,
                name: &self.pod_name,
            };
            (t, o)
        });
        let pod = self.pod;
        let containers = ContainerList::ALL.into_iter().flat_map(move |l| {
            pod.list(l).iter().enumerate().filter_map(move |(i, c)| {
                let c = c.as_ref()?;
                let t = Target {
                    list: Some(l),
                    index: i,
                    name: c.name(),
                };
                Some((t, c.options()?))
            })
        });
        pod_level.into_iter().chain(containers)
    }

    /// Reference M1-M8, over all container lists.
    fn mutate_create<V: ClusterView>(
        &self,
        view: &V,
        ctx: &ReviewContext,
        ops: &mut Vec<PatchOp>,
    ) -> Result<(), Denial> {
        let mut named = false;
        for (t, o) in self.targets() {
            let Some(name) = o.name() else { continue };
            named = true;
            if o.contents().is_none() {
                let cs = lookup(view, name).map_err(|d| d.at(Some(t.options_field(NAME))))?;
                ops.push(PatchOp {
                    path: t.contents_path(),
                    value: PatchValue::Contents(cs),
                });
            }
        }
        // M5: only pods naming a credspec, and never over a hostname the pod chose.
        let hostname = ctx.random_hostname.as_deref();
        if let Some(hostname) = hostname.filter(|_| named && self.pod.hostname().is_empty()) {
            ops.push(PatchOp {
                path: "/spec/hostname".to_owned(),
                value: PatchValue::Text(hostname.to_owned()),
            });
        }
        Ok(())
    }

    /// `pods/ephemeralcontainers` on /mutate: inline contents for the new ephemeral containers.
    fn mutate_new_ephemeral<V: ClusterView>(
        &self,
        old: &Pod<'_>,
        view: &V,
        ops: &mut Vec<PatchOp>,
    ) -> Result<(), Denial> {
        for (t, o) in self.targets() {
            if !t.is_new_ephemeral(old) {
                continue;
            }
            if let (Some(name), None) = (o.name(), o.contents()) {
                let cs = lookup(view, name).map_err(|d| d.at(Some(t.options_field(NAME))))?;
                ops.push(PatchOp {
                    path: t.contents_path(),
                    value: PatchValue::Contents(cs),
                });
            }
        }
        Ok(())
    }

    /// Asks whether the pod's service account may `use` each credspec named by a target
    /// that gets the CREATE rules (`create`; the others must be unchanged from `old`):
    /// once per credspec however often it is named, all at once. The reference asks once
    /// per reference, one after the other: 400 references took longer than the webhook
    /// timeout. The rules then read the answers in their order. Targets after one that is
    /// denied without asking (contents without a name, a changed setting) are not asked.
    async fn ask_uses<V: ClusterView>(
        &self,
        view: &V,
        create: impl Fn(&Target<'_>) -> bool,
        old: Option<&Pod<'_>>,
    ) -> HashMap<&'p str, UseDecision> {
        let sa = self.pod.service_account_name();
        let mut names: Vec<&'p str> = Vec::new();
        let mut seen = HashSet::new();
        for (t, o) in self.targets() {
            if create(&t) {
                match o.name() {
                    Some(name) if seen.insert(name) => names.push(name),
                    Some(_) => {}
                    None if o.contents().is_some() => break,
                    None => {}
                }
            } else if let Some(old) = old
                && self.validate_unchanged(&t, o, old).is_err()
            {
                break;
            }
        }
        let answers = futures::future::join_all(
            names
                .iter()
                .map(|name| view.may_use_credspec(self.namespace, sa, name)),
        )
        .await;
        names.into_iter().zip(answers).collect()
    }

    /// Reference V1-V7 for one windowsOptions, plus warnings for what the reference lets
    /// pass silently (V3). `uses` holds the answers of [`Self::ask_uses`].
    fn validate_create<V: ClusterView>(
        &self,
        t: &Target<'_>,
        o: &WindowsOptions<'_>,
        uses: &HashMap<&'p str, UseDecision>,
        view: &V,
        warnings: &mut Vec<Finding>,
    ) -> Result<(), Denial> {
        let Some(name) = o.name() else {
            if o.contents().is_some() {
                return Err(Denial::new(
                    "gmsa/contents-without-name",
                    422,
                    format!(
                        "{} {} has a GMSA cred spec set, but does not define the name of the corresponding resource",
                        t.kind(),
                        quote(t.name)
                    ),
                )
                .at(Some(t.options_field(CONTENTS))));
            }
            return Ok(());
        };
        let sa = self.pod.service_account_name();
        let unasked;
        let decision = match uses.get(name) {
            Some(d) => d,
            // Every named target was asked; should one not be, it is not allowed.
            None => {
                unasked = UseDecision {
                    allowed: false,
                    reason: "error when checking authz access: not asked".to_owned(),
                };
                &unasked
            }
        };
        if !decision.allowed {
            let mut message = format!(
                "service account {} is not authorized to `use` GMSA cred spec {}",
                quote(sa),
                quote(name)
            );
            if !decision.reason.is_empty() {
                message.push_str(", reason: ");
                message.push_str(&quote(&decision.reason));
            }
            return Err(Denial::new("gmsa/use-not-authorized", 403, message)
                .at(Some(t.options_field(NAME))));
        }
        let Some(contents) = o.contents() else {
            let field = Some(t.options_field(NAME));
            let mut warn = |rule: &'static str, message: String| {
                warnings.push(Finding::new(rule, Severity::Warning, message).at(field.clone()));
            };
            warn(
                "gmsa/contents-not-inlined",
                format!(
                    "{} {} names GMSA cred spec {} but its contents were not inlined: the mutating webhook is probably not installed",
                    t.kind(),
                    quote(t.name),
                    quote(name)
                ),
            );
            match view.credspec(name) {
                CredSpecLookup::NotFound => warn(
                    "gmsa/credspec-not-found",
                    format!(
                        "GMSA cred spec {} used by {} {} does not exist",
                        quote(name),
                        t.kind(),
                        quote(t.name)
                    ),
                ),
                CredSpecLookup::MissingCredspecKey => warn(
                    "gmsa/credspec-no-contents",
                    format!(
                        "GMSA cred spec {} used by {} {} does not have a credspec key",
                        quote(name),
                        t.kind(),
                        quote(t.name)
                    ),
                ),
                CredSpecLookup::Found(_) | CredSpecLookup::Unavailable(_) => {}
            }
            return Ok(());
        };
        let cs = lookup(view, name).map_err(|d| d.at(Some(t.options_field(NAME))))?;
        let mismatch = |suffix: Option<String>| {
            let mut message = format!(
                "the GMSA cred spec contents for {} {} does not match the contents of GMSA resource {}",
                t.kind(),
                quote(t.name),
                quote(name)
            );
            if let Some(s) = suffix {
                message.push_str(": ");
                message.push_str(&s);
            }
            Denial::new("gmsa/contents-mismatch", 422, message).at(Some(t.options_field(CONTENTS)))
        };
        match compare(contents, &cs) {
            Comparison::Match => Ok(()),
            Comparison::Mismatch => Err(mismatch(None)),
            Comparison::Unparsable(e) => Err(mismatch(Some(e))),
        }
    }

    /// Reference U1-U3 for one windowsOptions of the new pod.
    fn validate_unchanged(
        &self,
        t: &Target<'_>,
        new: &WindowsOptions<'_>,
        old: &Pod<'_>,
    ) -> Result<(), Denial> {
        let old = t.old_options(old);
        let name_changed = new.name() != old.and_then(|o| o.name());
        let contents_changed = new.contents() != old.and_then(|o| o.contents());
        let what = match (name_changed, contents_changed) {
            (false, false) => return Ok(()),
            (true, false) => "name",
            (false, true) => "contents",
            (true, true) => "name and contents",
        };
        let field = if contents_changed && !name_changed {
            CONTENTS
        } else {
            NAME
        };
        Err(Denial::new(
            "gmsa/settings-immutable",
            403,
            format!(
                "cannot update an existing pod's GMSA settings (GMSA {what} modified on {} {})",
                t.kind(),
                quote(t.name)
            ),
        )
        .at(Some(t.options_field(field))))
    }
}

/// Reference M1's retrieval and its error mapping.
fn lookup<V: ClusterView>(view: &V, name: &str) -> Result<SharedCredSpec, Denial> {
    if name.is_empty() {
        return Err(Denial::new(
            "gmsa/credspec-unavailable",
            500,
            "unable to retrieve the contents of cred spec : name is required".into(),
        ));
    }
    match view.credspec(name) {
        CredSpecLookup::Found(cs) => Ok(cs),
        CredSpecLookup::NotFound => Err(Denial::new(
            "gmsa/credspec-not-found",
            404,
            format!("cred spec {name} does not exist"),
        )),
        CredSpecLookup::MissingCredspecKey => Err(Denial::new(
            "gmsa/credspec-no-contents",
            417,
            format!("cred spec {name} does not have a credspec key"),
        )),
        CredSpecLookup::Unavailable(e) => Err(Denial::new(
            "gmsa/credspec-unavailable",
            500,
            format!("unable to retrieve the contents of cred spec {name}: {e}"),
        )),
    }
}
