//! The Windows policies as an AdmissionReview (`/mutate-windows`, `/validate-windows`):
//! [`decode`] the envelope, let the caller resolve [`PodReview::images_to_resolve`] (registry
//! I/O, outside this crate), then [`PodReview::evaluate`] renders the answer.
//!
//! No reference bytes to match here, so the envelope is read with serde and the answer written
//! with `serde_json`, in the request's `admission.k8s.io` version. The envelope is lenient on
//! purpose (every field optional, as the gMSA paths are): `kube::core::admission`'s types
//! require `apiVersion`, `kind`, `resource`, `userInfo`..., and a review missing one would get
//! a different 400 from these paths than from the gMSA ones.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::{
    Detail, ImageRequest, ImageResolutions, WindowsClusterView, WindowsPolicyConfig, decide,
    evaluate_ephemeral, images_to_resolve,
};
use crate::outcome::{Operation, Outcome, Phase, pod_display_name};

/// A Pod CREATE to review: what [`decode`] keeps of the envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct PodReview {
    /// `admission.k8s.io/v1beta1` when the request said so, else v1 (the API server checks
    /// that the answer's version matches its request's).
    api_version: &'static str,
    uid: String,
    /// The request's namespace, else the pod's, else `default`.
    namespace: String,
    /// The pod's display name, for logs.
    name: String,
    pod: Value,
    /// A `pods/ephemeralcontainers` UPDATE rather than a pod CREATE.
    ephemeral: bool,
}

const V1: &str = "admission.k8s.io/v1";
const V1BETA1: &str = "admission.k8s.io/v1beta1";

/// What [`decode`] finds in a Windows review.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// A Pod CREATE, or an UPDATE of its `ephemeralcontainers`: evaluate it.
    Pod(PodReview),
    /// Nothing to evaluate, and this is the whole answer: a malformed review (the gMSA paths'
    /// 400s), or anything but a Pod CREATE without subresource or an ephemeral-containers
    /// update (allowed untouched: a pod's scheduling fields are immutable after creation).
    Answered(Outcome),
}

/// Decodes the raw body of a POST to `/mutate-windows` or `/validate-windows`.
pub fn decode(body: &[u8]) -> Decoded {
    let text = crate::wire::body_text(body);
    let review = match serde_json::from_str::<Option<Review>>(&text) {
        Err(e) => {
            let why = crate::wire::json_error_text(&e);
            return Decoded::Answered(
                Answer::deny(
                    400,
                    format!("unable to unmarshall JSON body as an admission review: {why}"),
                )
                .render(V1, String::new()),
            );
        }
        Ok(r) => r,
    };
    let api_version = match review.as_ref().and_then(|r| r.api_version.as_deref()) {
        Some(V1BETA1) => V1BETA1,
        _ => V1,
    };
    let Some(req) = review.and_then(|r| r.request) else {
        return Decoded::Answered(
            Answer::deny(400, "no 'Request' field in JSON body".into())
                .render(api_version, String::new()),
        );
    };
    let uid = req.uid.unwrap_or_default();
    let pod = req.object.map_or(Value::Null, |o| o.0);
    let namespace = req
        .namespace
        .filter(|n| !n.is_empty())
        .or_else(|| metadata_str(&pod, "namespace").map(str::to_owned))
        .unwrap_or_else(|| "default".to_owned());
    let name = pod_display_name(
        metadata_str(&pod, "name").unwrap_or(""),
        req.name.as_deref().unwrap_or(""),
        metadata_str(&pod, "generateName").unwrap_or(""),
    )
    .into_owned();
    let kind = req.kind.unwrap_or_default();
    let operation = Operation::from_wire(req.operation.as_deref().unwrap_or(""));
    let is_pod =
        kind.group.as_deref().unwrap_or("").is_empty() && kind.kind.as_deref() == Some("Pod");
    let sub_resource = req.sub_resource.as_deref().unwrap_or("");
    let is_pod_create = is_pod && operation == Operation::Create && sub_resource.is_empty();
    // `kubectl debug` adds ephemeral containers: the only containers a pod gains later.
    let ephemeral =
        is_pod && operation == Operation::Update && sub_resource == "ephemeralcontainers";
    if !is_pod_create && !ephemeral {
        return Decoded::Answered(
            Answer {
                namespace,
                name,
                operation,
                ..Answer::default()
            }
            .render(api_version, uid),
        );
    }
    Decoded::Pod(PodReview {
        api_version,
        uid,
        namespace,
        name,
        pod,
        ephemeral,
    })
}

impl PodReview {
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The namespace the policies see the pod in (and its pull secrets' namespace).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The pod's display name (`generateName*` before it has a name), for logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pod(&self) -> &Value {
        &self.pod
    }

    /// The images whose registry metadata the policies need ([`images_to_resolve`]).
    pub fn images_to_resolve(&self, config: &WindowsPolicyConfig) -> Vec<ImageRequest> {
        if self.ephemeral {
            // No policy that reads image metadata applies to an ephemeral-containers update.
            return Vec::new();
        }
        images_to_resolve(&self.pod, &self.namespace, config)
    }

    /// Runs the policies ([`evaluate`]) and renders the answer. `warnings` are those of the
    /// image-metadata step; they come first, and equal warnings are kept once.
    pub fn evaluate(
        self,
        phase: Phase,
        config: &WindowsPolicyConfig,
        view: &dyn WindowsClusterView,
        images: &ImageResolutions,
        mut warnings: Vec<String>,
    ) -> Outcome {
        let d = if self.ephemeral {
            evaluate_ephemeral(&self.pod, &self.namespace, config, view)
        } else {
            decide(
                &self.pod,
                &self.namespace,
                config,
                view,
                images,
                phase,
                Detail::Answer,
            )
        };
        warnings.extend(d.warnings);
        dedup(&mut warnings);
        let mut answer = Answer {
            warnings,
            findings: d.findings,
            namespace: self.namespace,
            name: self.name,
            operation: if self.ephemeral {
                Operation::Update
            } else {
                Operation::Create
            },
            ..Answer::default()
        };
        if !d.allowed {
            answer.denial = Some((d.code, d.message));
        } else if !d.patch.0.is_empty() {
            match serde_json::to_vec(&d.patch) {
                Ok(p) => answer.patch = Some((p, d.patch.0.len())),
                Err(e) => answer.denial = Some((500, format!("unable to encode the patch: {e}"))),
            }
        }
        answer.render(self.api_version, self.uid)
    }
}

/// A non-empty string field of the object's metadata.
fn metadata_str<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    super::pod::get_str(v, &["metadata", key]).filter(|s| !s.is_empty())
}

/// Keeps the first of equal warnings, in order.
fn dedup(warnings: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    api_version: Option<String>,
    request: Option<Request>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    uid: Option<String>,
    kind: Option<Gvk>,
    sub_resource: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    operation: Option<String>,
    object: Option<PodObject>,
}

/// The pod without what no Windows policy reads and no patch touches: `status` and
/// `metadata.managedFields` (which the API server fills in before admission, and which is
/// often larger than the spec). They are skipped while parsing, never built as `Value`s.
struct PodObject(Value);

/// Skips `skip` keys of a JSON object; anything else (not an object) is kept whole.
struct Without(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for Without {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Without {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0.contains(&key.as_str()) {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else if key == "metadata" && self.0 == POD_SKIPS {
                let metadata = map.next_value_seed(Without(METADATA_SKIPS))?;
                out.insert(key, metadata);
            } else {
                out.insert(key, map.next_value()?);
            }
        }
        Ok(Value::Object(out))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

const POD_SKIPS: &[&str] = &["status"];
const METADATA_SKIPS: &[&str] = &["managedFields"];

impl<'de> Deserialize<'de> for PodObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::DeserializeSeed::deserialize(Without(POD_SKIPS), d).map(PodObject)
    }
}

#[derive(Deserialize, Default)]
struct Gvk {
    group: Option<String>,
    kind: Option<String>,
}

#[derive(Default)]
struct Answer {
    denial: Option<(u16, String)>,
    /// The JSON Patch bytes and their operation count.
    patch: Option<(Vec<u8>, usize)>,
    warnings: Vec<String>,
    findings: Vec<crate::outcome::Finding>,
    namespace: String,
    name: String,
    operation: Operation,
}

impl Answer {
    fn deny(code: u16, message: String) -> Self {
        Self {
            denial: Some((code, message)),
            ..Self::default()
        }
    }

    /// The AdmissionReview answer, written directly in the bytes `serde_json` gives a `Value`
    /// of it (keys sorted, the same escaping): building and dropping that tree was 10 % of a
    /// Windows review's instructions (callgrind, issue 9).
    fn render(self, api_version: &'static str, uid: String) -> Outcome {
        let patch_b64 = self
            .patch
            .as_ref()
            .map(|(patch, _)| base64::engine::general_purpose::STANDARD.encode(patch));
        let mut body = Vec::with_capacity(192 + patch_b64.as_ref().map_or(0, String::len));
        body.extend_from_slice(b"{\"apiVersion\":");
        push_str(&mut body, api_version);
        body.extend_from_slice(b",\"kind\":\"AdmissionReview\",\"response\":{\"allowed\":");
        body.extend_from_slice(if self.denial.is_none() {
            b"true"
        } else {
            b"false"
        });
        if let Some(patch) = &patch_b64 {
            body.extend_from_slice(b",\"patch\":");
            push_str(&mut body, patch);
            body.extend_from_slice(b",\"patchType\":\"JSONPatch\"");
        }
        if let Some((code, message)) = &self.denial {
            body.extend_from_slice(
                format!(",\"status\":{{\"code\":{code},\"message\":").as_bytes(),
            );
            push_str(&mut body, message);
            body.extend_from_slice(b",\"metadata\":{}}");
        }
        body.extend_from_slice(b",\"uid\":");
        push_str(&mut body, &uid);
        if !self.warnings.is_empty() {
            body.extend_from_slice(b",\"warnings\":[");
            for (i, w) in self.warnings.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                push_str(&mut body, w);
            }
            body.push(b']');
        }
        body.extend_from_slice(b"}}");
        let (allowed, code, message) = match self.denial {
            None => (true, 200, String::new()),
            Some((c, m)) => (false, c, m),
        };
        Outcome {
            body,
            uid,
            allowed,
            code,
            message,
            patch_ops: self.patch.map_or(0, |(_, ops)| ops),
            warnings: self.warnings,
            namespace: self.namespace,
            name: self.name,
            operation: self.operation,
            findings: self.findings,
        }
    }
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn push_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The answer is the bytes `serde_json` would give its `Value` (sorted keys, its escaping),
    /// for every part an answer can have.
    #[test]
    fn answers_are_canonical_json() {
        let answers = [
            Answer::default(),
            Answer::deny(403, "no \"node\" <for> you\n\u{1b}[31m".into()),
            Answer {
                patch: Some((br#"[{"op":"add","path":"/a","value":1}]"#.to_vec(), 1)),
                warnings: vec!["first".into(), "ünïcode \\ \"quoted\"".into()],
                ..Answer::default()
            },
        ];
        for (i, answer) in answers.into_iter().enumerate() {
            let out = answer.render(V1BETA1, format!("uid-{i}\t"));
            let value: Value = serde_json::from_slice(&out.body).unwrap();
            assert_eq!(out.body, serde_json::to_vec(&value).unwrap(), "answer {i}");
            assert_eq!(value["apiVersion"], V1BETA1);
            assert_eq!(value["kind"], "AdmissionReview");
            assert_eq!(value["response"]["uid"], format!("uid-{i}\t"));
            assert_eq!(value["response"]["allowed"], out.allowed);
            match i {
                1 => assert_eq!(value["response"]["status"]["code"], 403),
                2 => {
                    assert_eq!(value["response"]["patchType"], "JSONPatch");
                    assert_eq!(value["response"]["warnings"][1], "ünïcode \\ \"quoted\"");
                }
                _ => assert!(value["response"].get("status").is_none()),
            }
        }
    }

    /// `status` and `metadata.managedFields` are not decoded, and the answer is the one the
    /// pod without them gets.
    #[test]
    fn status_and_managed_fields_are_skipped() {
        let body = |pod: Value| {
            serde_json::to_vec(&serde_json::json!({"apiVersion": V1, "request": {
                "uid": "u", "kind": {"group": "", "kind": "Pod"}, "operation": "CREATE",
                "namespace": "apps", "object": pod}}))
            .unwrap()
        };
        let plain = serde_json::json!({"metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}],
                "nodeSelector": {"kubernetes.io/os": "windows"}}});
        let mut full = plain.clone();
        full["metadata"]["managedFields"] = serde_json::json!([{"manager": "kube-controller-manager",
            "operation": "Update", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}}]);
        full["status"] = serde_json::json!({"phase": "Pending", "qosClass": "BestEffort"});
        let (Decoded::Pod(a), Decoded::Pod(b)) =
            (decode(&body(plain.clone())), decode(&body(full)))
        else {
            panic!("not reviewed");
        };
        assert_eq!(a.pod(), &plain);
        assert_eq!(b.pod(), &plain);
        let config = WindowsPolicyConfig::default();
        let view = super::super::StaticWindowsView::new([]);
        let run = |r: PodReview| {
            r.evaluate(
                Phase::Mutate,
                &config,
                &view,
                &ImageResolutions::new(),
                Vec::new(),
            )
        };
        let (a, b) = (run(a), run(b));
        assert!(a.patch_ops > 0, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.body, b.body);
        // A pod that is not an object is still decoded as it is (and refused as malformed).
        match decode(&body(serde_json::json!(["status"]))) {
            Decoded::Pod(r) => assert_eq!(r.pod(), &serde_json::json!(["status"])),
            Decoded::Answered(o) => panic!("{}", o.message),
        }
    }

    #[test]
    fn warnings_are_deduplicated_in_order() {
        let mut w = vec![
            "b".to_owned(),
            "a".into(),
            "b".into(),
            "c".into(),
            "a".into(),
        ];
        dedup(&mut w);
        assert_eq!(w, ["b", "a", "c"]);
    }
}
