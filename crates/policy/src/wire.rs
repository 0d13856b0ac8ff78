//! The parts of an AdmissionReview and of a Pod that the gMSA policy reads, decoded the way
//! Go's `encoding/json` decodes them into the reference's types: object keys match exactly or
//! case-insensitively, duplicate keys are last-wins, `null` means "not set", unknown fields are
//! skipped without being materialised. Strings borrow from the request body when they contain
//! no escapes, and the pod objects stay raw until the request has passed the earlier checks.

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

/// A JSON string that borrows from the input whenever it has no escape sequences.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// Go's `encoding/json` falls back to a case-insensitive key match (`bytes.EqualFold`); the
/// field names here are ASCII, and the only non-ASCII runes folding onto ASCII letters are
/// the Kelvin sign (k) and the long s (s).
pub(crate) fn go_fold_eq(key: &str, field: &str) -> bool {
    let mut fb = field.bytes();
    for c in key.chars() {
        let Some(f) = fb.next() else { return false };
        let f = f.to_ascii_lowercase();
        let matches = match c {
            '\u{212A}' => f == b'k',
            '\u{17F}' => f == b's',
            c if c.is_ascii() => (c as u8).to_ascii_lowercase() == f,
            _ => false,
        };
        if !matches {
            return false;
        }
    }
    fb.next().is_none()
}

/// Declares a struct of optional fields and a Go-compatible map decoder for it, and the
/// [`ExactKeys`] check of the same field table. Names after `also` are fields the decoder
/// skips but offline admission reads from the manifest (exact keys, near misses refused).
macro_rules! go_object {
    ($(#[$m:meta])* $name:ident { $($field:ident : $ty:ty = $json:literal),* $(,)? } $(also [$($extra:literal),* $(,)?])?) => {
        $(#[$m])*
        #[derive(Debug, Default)]
        pub(crate) struct $name<'a> {
            $(pub(crate) $field: $ty,)*
            _lt: PhantomData<&'a ()>,
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<'a>(PhantomData<&'a ()>);
                impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                    type Value = $name<'a>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<Str<'de>>()? {
                            let key: &str = &key;
                            $(if key == $json { out.$field = map.next_value()?; continue; })*
                            $(if go_fold_eq(key, $json) { out.$field = map.next_value()?; continue; })*
                            map.next_value::<IgnoredAny>()?;
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(V(PhantomData))
            }
        }

        impl<'a> ExactKeys for $name<'a> {
            fn check_exact(v: &serde_json::Value, path: &str) -> Result<(), ShadowedKey> {
                const FIELDS: &[&str] = &[$($json,)* $($($extra,)*)?];
                // Wrong types are the decoder's to report, not this check's.
                let Some(map) = v.as_object() else { return Ok(()) };
                for (key, child) in map {
                    if FIELDS.contains(&key.as_str()) {
                        $(if key == $json { <$ty as ExactKeys>::check_exact(child, &join(path, key))?; })*
                        continue;
                    }
                    if let Some(field) = FIELDS.iter().find(|f| go_fold_eq(key, f)) {
                        return Err(ShadowedKey {
                            path: path.to_owned(),
                            key: key.clone(),
                            field: (*field).to_owned(),
                        });
                    }
                }
                Ok(())
            }
        }
    };
}

/// A manifest key that differs from a field the gMSA decoder reads only by case or by Go's
/// Unicode folding (`ſ` for `s`, the Kelvin sign for `k`). The API server decodes manifests
/// with exact keys and would ignore it; the Go-compatible decoder would read it, so the
/// offline answer could differ from the cluster's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowedKey {
    /// Where the key is, as a dotted path from the pod (`spec.containers[0]`); empty at the top.
    pub path: String,
    pub key: String,
    /// The field it would be read as.
    pub field: String,
}

impl fmt::Display for ShadowedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!(" in {}", self.path)
        };
        write!(
            f,
            "key {:?}{at} differs from the field {:?} only by case or Unicode folding: the API server reads only {:?}, so this key would be ignored in the cluster; rename or remove it",
            self.key, self.field, self.field
        )
    }
}

/// The exact-key check of one decoded type over a manifest's JSON (see [`ShadowedKey`]).
pub(crate) trait ExactKeys {
    fn check_exact(v: &serde_json::Value, path: &str) -> Result<(), ShadowedKey>;
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl ExactKeys for Str<'_> {
    fn check_exact(_: &serde_json::Value, _: &str) -> Result<(), ShadowedKey> {
        Ok(())
    }
}

impl ExactKeys for &RawValue {
    fn check_exact(_: &serde_json::Value, _: &str) -> Result<(), ShadowedKey> {
        Ok(())
    }
}

impl<T: ExactKeys> ExactKeys for Option<T> {
    fn check_exact(v: &serde_json::Value, path: &str) -> Result<(), ShadowedKey> {
        T::check_exact(v, path)
    }
}

impl<T: ExactKeys> ExactKeys for Vec<T> {
    fn check_exact(v: &serde_json::Value, path: &str) -> Result<(), ShadowedKey> {
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            T::check_exact(item, &format!("{path}[{i}]"))?;
        }
        Ok(())
    }
}

/// Refuses keys of a Pod manifest that the Go-compatible decoder would fold onto a field it
/// reads (see [`ShadowedKey`]). Duplicate keys are the parser's to refuse.
pub(crate) fn check_pod_keys(pod: &serde_json::Value) -> Result<(), ShadowedKey> {
    Pod::check_exact(pod, "")
}

go_object!(
    /// `AdmissionReview`: only `request` matters; `apiVersion`/`kind` are ignored like the reference.
    Review { request: Option<Request<'a>> = "request" }
);

go_object!(
    /// `AdmissionRequest`, reduced to what the policies read, with the object kept raw so
    /// that an undecodable pod is reported after the kind check, as the reference does.
    Request {
        uid: Option<Str<'a>> = "uid",
        kind: Option<GroupVersionKind<'a>> = "kind",
        sub_resource: Option<Str<'a>> = "subResource",
        name: Option<Str<'a>> = "name",
        namespace: Option<Str<'a>> = "namespace",
        operation: Option<Str<'a>> = "operation",
        object: Option<&'a RawValue> = "object",
        old_object: Option<&'a RawValue> = "oldObject",
    }
);

go_object!(
    /// The common case in one pass: the same review with the pod decoded in place.
    FastReview { request: Option<FastRequest<'a>> = "request" }
);

go_object!(FastRequest {
    uid: Option<Str<'a>> = "uid",
    kind: Option<GroupVersionKind<'a>> = "kind",
    sub_resource: Option<Str<'a>> = "subResource",
    name: Option<Str<'a>> = "name",
    namespace: Option<Str<'a>> = "namespace",
    operation: Option<Str<'a>> = "operation",
    object: Option<Pod<'a>> = "object",
    old_object: Option<&'a RawValue> = "oldObject",
});

/// The request's object: decoded already (fast path) or still raw.
#[derive(Debug)]
pub(crate) enum Object<'a> {
    Decoded(Option<Pod<'a>>),
    Raw(Option<&'a RawValue>),
}

impl<'a> Object<'a> {
    /// The pod, or the reference's P5 error text.
    pub(crate) fn into_pod(self) -> Result<Pod<'a>, String> {
        match self {
            Object::Decoded(Some(p)) => Ok(p),
            // `null` and absent objects are empty input to Go's decoder.
            Object::Decoded(None) => Err(GO_EOF.to_owned()),
            Object::Raw(r) => decode_pod(r),
        }
    }
}

/// A decoded `AdmissionRequest`.
#[derive(Debug)]
pub(crate) struct Admission<'a> {
    pub(crate) uid: Option<Str<'a>>,
    pub(crate) kind: Option<GroupVersionKind<'a>>,
    pub(crate) sub_resource: Option<Str<'a>>,
    pub(crate) name: Option<Str<'a>>,
    pub(crate) namespace: Option<Str<'a>>,
    pub(crate) operation: Option<Str<'a>>,
    pub(crate) object: Object<'a>,
    pub(crate) old_object: Option<&'a RawValue>,
}

go_object!(GroupVersionKind { kind: Option<Str<'a>> = "kind" });

go_object!(Pod {
    metadata: Option<ObjectMeta<'a>> = "metadata",
    spec: Option<PodSpec<'a>> = "spec",
});

go_object!(ObjectMeta {
    name: Option<Str<'a>> = "name",
    generate_name: Option<Str<'a>> = "generateName",
} also ["namespace"]);

go_object!(PodSpec {
    security_context: Option<SecurityContext<'a>> = "securityContext",
    containers: Option<Vec<Option<Container<'a>>>> = "containers",
    init_containers: Option<Vec<Option<Container<'a>>>> = "initContainers",
    ephemeral_containers: Option<Vec<Option<Container<'a>>>> = "ephemeralContainers",
    hostname: Option<Str<'a>> = "hostname",
    service_account_name: Option<Str<'a>> = "serviceAccountName",
} also ["serviceAccount"]);

go_object!(
    /// Both `PodSecurityContext` and a container's `SecurityContext`: only `windowsOptions` is read.
    SecurityContext { windows_options: Option<WindowsOptions<'a>> = "windowsOptions" }
);

go_object!(
    /// `Container` and `EphemeralContainer` alike.
    Container {
        name: Option<Str<'a>> = "name",
        security_context: Option<SecurityContext<'a>> = "securityContext",
    }
);

go_object!(WindowsOptions {
    gmsa_credential_spec_name: Option<Str<'a>> = "gmsaCredentialSpecName",
    gmsa_credential_spec: Option<Str<'a>> = "gmsaCredentialSpec",
});

fn opt_str<'s>(s: &'s Option<Str<'_>>) -> &'s str {
    s.as_deref().unwrap_or("")
}

impl<'a> Admission<'a> {
    pub(crate) fn uid(&self) -> &str {
        opt_str(&self.uid)
    }
    pub(crate) fn kind(&self) -> &str {
        self.kind.as_ref().map(|k| opt_str(&k.kind)).unwrap_or("")
    }
    pub(crate) fn operation(&self) -> &str {
        opt_str(&self.operation)
    }
    pub(crate) fn namespace(&self) -> &str {
        opt_str(&self.namespace)
    }
    pub(crate) fn name(&self) -> &str {
        opt_str(&self.name)
    }
    pub(crate) fn sub_resource(&self) -> &str {
        opt_str(&self.sub_resource)
    }
}

/// The list a container belongs to; `None` in [`Target`] is the pod itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    pub(crate) const ALL: [ContainerList; 3] = [
        ContainerList::Containers,
        ContainerList::InitContainers,
        ContainerList::EphemeralContainers,
    ];

    /// How denials name a member of this list (`container` is the reference's word).
    pub(crate) fn kind(self) -> &'static str {
        match self {
            ContainerList::Containers => "container",
            ContainerList::InitContainers => "init container",
            ContainerList::EphemeralContainers => "ephemeral container",
        }
    }

    /// The JSON field, as used in patch paths.
    pub(crate) fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }
}

impl<'a> Pod<'a> {
    pub(crate) fn name(&self) -> &str {
        self.metadata
            .as_ref()
            .map(|m| opt_str(&m.name))
            .unwrap_or("")
    }
    pub(crate) fn generate_name(&self) -> &str {
        self.metadata
            .as_ref()
            .map(|m| opt_str(&m.generate_name))
            .unwrap_or("")
    }
    pub(crate) fn hostname(&self) -> &str {
        self.spec
            .as_ref()
            .map(|s| opt_str(&s.hostname))
            .unwrap_or("")
    }
    pub(crate) fn service_account_name(&self) -> &str {
        self.spec
            .as_ref()
            .map(|s| opt_str(&s.service_account_name))
            .unwrap_or("")
    }

    pub(crate) fn pod_options(&self) -> Option<&WindowsOptions<'a>> {
        self.spec
            .as_ref()?
            .security_context
            .as_ref()?
            .windows_options
            .as_ref()
    }

    pub(crate) fn list(&self, list: ContainerList) -> &[Option<Container<'a>>] {
        let Some(spec) = &self.spec else { return &[] };
        let l = match list {
            ContainerList::Containers => &spec.containers,
            ContainerList::InitContainers => &spec.init_containers,
            ContainerList::EphemeralContainers => &spec.ephemeral_containers,
        };
        l.as_deref().unwrap_or(&[])
    }
}

impl<'a> Container<'a> {
    pub(crate) fn name(&self) -> &str {
        opt_str(&self.name)
    }
    pub(crate) fn options(&self) -> Option<&WindowsOptions<'a>> {
        self.security_context.as_ref()?.windows_options.as_ref()
    }
}

impl WindowsOptions<'_> {
    pub(crate) fn name(&self) -> Option<&str> {
        self.gmsa_credential_spec_name.as_deref()
    }
    pub(crate) fn contents(&self) -> Option<&str> {
        self.gmsa_credential_spec.as_deref()
    }
}

/// Decodes a `runtime.RawExtension` as a Pod. Like Go, an absent or `null` object is empty
/// input, reported with Go's wording.
pub(crate) fn decode_pod<'a>(raw: Option<&'a RawValue>) -> Result<Pod<'a>, String> {
    match raw {
        None => Err(GO_EOF.to_owned()),
        Some(r) if r.get() == "null" => Err(GO_EOF.to_owned()),
        Some(r) => serde_json::from_str::<Pod<'a>>(r.get()).map_err(|e| json_error_text(&e)),
    }
}

/// A request body as text. Go's decoder replaces invalid UTF-8 with U+FFFD instead of
/// failing; valid bodies (all of them in practice) are borrowed, not copied. `from_utf8`
/// first: its ASCII fast path is several times quicker than the lossy scan (7 % of a
/// Windows review, callgrind).
pub(crate) fn body_text(body: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(body) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// Go's text for a truncated document, which serde_json words differently.
pub(crate) const GO_EOF: &str = "unexpected end of JSON input";

/// The error text after the reference's prefix: Go's wording where it is fixed
/// (truncated input), serde_json's otherwise.
pub(crate) fn json_error_text(e: &serde_json::Error) -> String {
    if e.is_eof() {
        GO_EOF.to_owned()
    } else {
        e.to_string()
    }
}

/// Parses the AdmissionReview. A top-level `null` decodes, like in Go, to a review
/// without a request. The pod is decoded in the same pass; only when that fails is the
/// review parsed again with the object kept raw, so that errors are classified (P2 vs P5)
/// exactly as the reference classifies them.
pub(crate) fn decode_review(text: &str) -> Result<Option<Admission<'_>>, String> {
    if let Ok(r) = serde_json::from_str::<Option<FastReview<'_>>>(text) {
        return Ok(r.and_then(|r| r.request).map(|r| Admission {
            uid: r.uid,
            kind: r.kind,
            sub_resource: r.sub_resource,
            name: r.name,
            namespace: r.namespace,
            operation: r.operation,
            object: Object::Decoded(r.object),
            old_object: r.old_object,
        }));
    }
    match serde_json::from_str::<Option<Review<'_>>>(text) {
        Ok(r) => Ok(r.and_then(|r| r.request).map(|r| Admission {
            uid: r.uid,
            kind: r.kind,
            sub_resource: r.sub_resource,
            name: r.name,
            namespace: r.namespace,
            operation: r.operation,
            object: Object::Raw(r.object),
            old_object: r.old_object,
        })),
        Err(e) => Err(json_error_text(&e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fold_matches_go() {
        assert!(go_fold_eq("UID", "uid"));
        assert!(go_fold_eq("Request", "request"));
        assert!(go_fold_eq("\u{212A}ind", "kind"));
        assert!(go_fold_eq("\u{17F}pec", "spec"));
        assert!(!go_fold_eq("kinds", "kind"));
        assert!(!go_fold_eq("kin", "kind"));
        assert!(!go_fold_eq("requestKind", "kind"));
    }

    #[test]
    fn borrows_unescaped_strings() {
        let r = decode_review(r#"{"request":{"uid":"u","operation":"CRE\u0041TE"}}"#)
            .unwrap()
            .unwrap();
        assert!(matches!(r.uid.as_ref().unwrap().0, Cow::Borrowed("u")));
        assert_eq!(r.operation(), "CREATE");
    }

    #[test]
    fn valid_reviews_take_the_one_pass_path() {
        let ok = decode_review(r#"{"request":{"object":{"spec":{"containers":[{"name":"c"}]}}}}"#);
        assert!(matches!(
            ok.unwrap().unwrap().object,
            Object::Decoded(Some(_))
        ));
        let bad = decode_review(r#"{"request":{"object":{"spec":{"containers":"x"}}}}"#);
        let req = bad.unwrap().unwrap();
        assert!(matches!(req.object, Object::Raw(Some(_))));
        assert!(req.object.into_pod().is_err());
    }

    #[test]
    fn last_duplicate_wins_and_null_is_unset() {
        let r = decode_review(r#"{"request":{"uid":"a","UID":"b","kind":null}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(r.uid(), "b");
        assert_eq!(r.kind(), "");
        assert!(decode_review("null").unwrap().is_none());
    }
}
