//! The adversarial table (`tests/data/adversarial.json`): shapes of admission requests by
//! which a pod could obtain a credspec it may not `use`. Read by the policy's adversarial
//! suite (each must be denied) and by the CLI's matchConditions test (each must be sent).
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{Value, json};

pub const TABLE: &str = include_str!("../data/adversarial.json");
/// Stands for the deeply nested value of `nestObject` until the text is written.
const NEST: &str = "__nested_arrays__";

pub struct Row {
    pub label: String,
    /// A text every denial's message must contain (empty: any denial).
    pub why: String,
    pub operation: String,
    pub sub_resource: String,
    pub namespace: String,
    /// The object as JSON text, as it goes into the body (escapes and duplicates kept).
    pub object_text: String,
    pub old: Option<Value>,
    /// Offline admission (`winkube admit`) of the object as a manifest.
    pub offline: bool,
    /// Depth of arrays nested in an unknown container field, in `object_text` only (the API
    /// server drops unknown fields, and refuses documents nested over 10,000 deep).
    pub nest_object: usize,
}

pub fn contents_a() -> String {
    table()["contentsA"].as_str().unwrap().to_owned()
}

pub fn contents_b() -> String {
    table()["contentsB"].as_str().unwrap().to_owned()
}

fn table() -> Value {
    serde_json::from_str(TABLE).unwrap()
}

pub fn rows() -> Vec<Row> {
    let t = table();
    t["rows"].as_array().unwrap().iter().map(row).collect()
}

fn row(r: &Value) -> Row {
    let s = |k: &str, d: &str| r.get(k).and_then(Value::as_str).unwrap_or(d).to_owned();
    let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
    let nest_object = n("nestObject");
    let object_text = match r.get("objectRaw").and_then(Value::as_str) {
        Some(raw) => raw.to_owned(),
        None => {
            let mut pod = r["object"].clone();
            let first = &mut pod["spec"]["containers"][0];
            if n("nestContents") > 0 {
                let d = n("nestContents");
                first["securityContext"]["windowsOptions"]["gmsaCredentialSpec"] =
                    json!(format!("{}{}", "[".repeat(d), "]".repeat(d)));
            }
            if n("longName") > 0 {
                first["securityContext"]["windowsOptions"]["gmsaCredentialSpecName"] =
                    json!(format!("cs{}", "x".repeat(n("longName"))));
            }
            if nest_object > 0 {
                first["x"] = json!(NEST);
            }
            if n("repeatContainers") > 0 {
                let c = pod["spec"]["containers"][0].clone();
                pod["spec"]["containers"] = (0..n("repeatContainers"))
                    .map(|i| {
                        let mut c = c.clone();
                        c["name"] = json!(format!("c{i}"));
                        c
                    })
                    .collect();
            }
            let text = pod.to_string();
            let nested = format!("{}{}", "[".repeat(nest_object), "]".repeat(nest_object));
            text.replace(&format!("\"{NEST}\""), &nested)
        }
    };
    Row {
        label: s("label", ""),
        why: s("why", ""),
        operation: s("operation", "CREATE"),
        sub_resource: s("subResource", ""),
        namespace: s("namespace", "ns"),
        object_text,
        old: r.get("oldObject").cloned(),
        offline: r.get("offline").and_then(Value::as_bool).unwrap_or(false),
        nest_object,
    }
}

impl Row {
    /// The AdmissionReview body, with `object_text` spliced in verbatim.
    pub fn body(&self, object_text: &str) -> Vec<u8> {
        let q = |s: &str| Value::from(s).to_string();
        let old = self.old.as_ref().map_or("null".into(), Value::to_string);
        let sub = if self.sub_resource.is_empty() {
            String::new()
        } else {
            format!(",\"subResource\":{}", q(&self.sub_resource))
        };
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"adv","kind":{{"group":"","version":"v1","kind":"Pod"}},"resource":{{"group":"","version":"v1","resource":"pods"}}{sub},"name":"p","namespace":{},"operation":{},"userInfo":{{"username":"u"}},"object":{object_text},"oldObject":{old}}}}}"#,
            q(&self.namespace),
            q(&self.operation),
        )
        .into_bytes()
    }

    /// The object as a JSON value, as the API server decodes it (escapes resolved, the
    /// last of duplicate keys kept), without the `nestObject` field.
    pub fn object_value(&self) -> Value {
        if self.nest_object > 0 {
            let nested = format!(
                "{}{}",
                "[".repeat(self.nest_object),
                "]".repeat(self.nest_object)
            );
            return serde_json::from_str(&self.object_text.replacen(&nested, "null", 1)).unwrap();
        }
        serde_json::from_str(&self.object_text).unwrap()
    }
}
