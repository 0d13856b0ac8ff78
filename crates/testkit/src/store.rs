//! Object storage: JSON objects per resource type, one global resourceVersion counter, and an
//! event history that watches replay from.

use crate::{Error, ResourceType};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Watch event types, as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as stored in the history and sent to watches.
#[derive(Debug)]
pub struct StoredEvent {
    pub rv: u64,
    pub ty: usize,
    pub namespace: String,
    pub kind: EventType,
    pub object: Value,
}

pub(crate) struct State {
    pub types: Vec<ResourceType>,
    /// resourceVersion of the last change.
    pub rv: u64,
    /// Per type: (namespace, name) → object.
    pub objects: HashMap<usize, BTreeMap<(String, String), Value>>,
    pub history: VecDeque<Arc<StoredEvent>>,
    /// Watches from a resourceVersion below this get 410 Gone.
    pub compacted_rv: u64,
    pub history_limit: usize,
    uid: u64,
}

pub(crate) fn status(code: u16, reason: &str, message: impl Into<String>) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message.into(),
        "reason": reason,
        "code": code,
    })
}

pub(crate) fn not_found(t: &ResourceType, name: &str) -> Error {
    Error::Status {
        code: 404,
        body: status(
            404,
            "NotFound",
            format!("{} {name:?} not found", t.qualified()),
        ),
    }
}

impl State {
    pub fn new(types: Vec<ResourceType>) -> Self {
        Self {
            types,
            rv: 1,
            objects: HashMap::new(),
            history: VecDeque::new(),
            compacted_rv: 0,
            history_limit: 10_000,
            uid: 0,
        }
    }

    pub fn type_index(&self, api_version: &str, kind: &str) -> Option<usize> {
        self.types
            .iter()
            .position(|t| t.api_version() == api_version && t.kind == kind)
    }

    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<usize> {
        self.types
            .iter()
            .position(|t| t.group == group && t.version == version && t.plural == plural)
    }

    pub fn list(&self, ty: usize, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .get(&ty)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((ns, _), _)| namespace.is_none_or(|want| want == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The objects of a type in key order (namespace, name), without copying them.
    pub fn iter(
        &self,
        ty: usize,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = (&(String, String), &Value)> {
        self.objects
            .get(&ty)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((ns, _), _)| namespace.is_none_or(|want| want == ns))
    }

    pub fn get(&self, ty: usize, namespace: &str, name: &str) -> Result<Value, Error> {
        self.objects
            .get(&ty)
            .and_then(|m| m.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| not_found(&self.types[ty], name))
    }

    fn record(
        &mut self,
        ty: usize,
        namespace: &str,
        kind: EventType,
        object: Value,
    ) -> Arc<StoredEvent> {
        let ev = Arc::new(StoredEvent {
            rv: self.rv,
            ty,
            namespace: namespace.to_owned(),
            kind,
            object,
        });
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        ev
    }

    /// Validates and normalises an incoming object for type `ty` in `namespace` (from the
    /// path, `None` for cluster-scoped): fills apiVersion, kind and metadata.namespace.
    fn normalise(
        &self,
        ty: usize,
        namespace: Option<&str>,
        mut obj: Value,
    ) -> Result<(Value, String, String), Error> {
        let t = &self.types[ty];
        let bad = |msg: String| Error::Status {
            code: 400,
            body: status(400, "BadRequest", msg),
        };
        let map = obj
            .as_object_mut()
            .ok_or_else(|| bad("the request body is not a JSON object".into()))?;
        if let Some(av) = map.get("apiVersion").and_then(Value::as_str)
            && av != t.api_version()
        {
            return Err(bad(format!(
                "apiVersion {av:?} does not match {:?}",
                t.api_version()
            )));
        }
        map.insert("apiVersion".into(), Value::String(t.api_version()));
        map.insert("kind".into(), Value::String(t.kind.clone()));
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| bad("metadata is not an object".into()))?;
        let ns = if t.namespaced {
            let body_ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let ns = match (namespace, body_ns) {
                (Some(p), Some(b)) if p != b => {
                    return Err(bad(
                        "the namespace of the provided object does not match the namespace sent on the request".into(),
                    ));
                }
                (Some(p), _) => p.to_owned(),
                (None, Some(b)) if !b.is_empty() => b,
                _ => {
                    return Err(bad(format!(
                        "{} must be created in a namespace",
                        t.qualified()
                    )));
                }
            };
            meta.insert("namespace".into(), Value::String(ns.clone()));
            ns
        } else {
            meta.remove("namespace");
            String::new()
        };
        if meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
        {
            let name = format!("{prefix}{:05x}", self.uid + 1);
            meta.insert("name".into(), Value::String(name));
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::Status {
                code: 422,
                body: status(422, "Invalid", format!("{} \"\" is invalid: metadata.name: Required value: name or generateName is required", t.qualified())),
            })?
            .to_owned();
        Ok((obj, ns, name))
    }

    fn stamp(&mut self, obj: &mut Value, keep_uid: Option<Value>) {
        self.rv += 1;
        self.uid += 1;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
            let uid = keep_uid.unwrap_or_else(|| {
                Value::String(format!("00000000-0000-4000-8000-{:012x}", self.uid))
            });
            meta.insert("uid".into(), uid);
            meta.entry("creationTimestamp")
                .or_insert_with(|| Value::String("2025-01-01T00:00:00Z".into()));
        }
    }

    pub fn create(
        &mut self,
        ty: usize,
        namespace: Option<&str>,
        obj: Value,
    ) -> Result<(Value, Arc<StoredEvent>), Error> {
        let (mut obj, ns, name) = self.normalise(ty, namespace, obj)?;
        crate::patch::validate(
            &self.types[ty].kind,
            &self.types[ty].qualified(),
            None,
            &obj,
        )?;
        let key = (ns.clone(), name.clone());
        if self.objects.get(&ty).is_some_and(|m| m.contains_key(&key)) {
            let t = &self.types[ty];
            return Err(Error::Status {
                code: 409,
                body: status(
                    409,
                    "AlreadyExists",
                    format!("{} {name:?} already exists", t.qualified()),
                ),
            });
        }
        self.stamp(&mut obj, None);
        self.objects.entry(ty).or_default().insert(key, obj.clone());
        let ev = self.record(ty, &ns, EventType::Added, obj.clone());
        Ok((obj, ev))
    }

    /// Replaces an existing object. A resourceVersion in the body must match (optimistic
    /// concurrency); an absent one means "unconditional", as the API server allows for PUT.
    pub fn replace(
        &mut self,
        ty: usize,
        namespace: Option<&str>,
        name_in_path: Option<&str>,
        obj: Value,
    ) -> Result<(Value, Arc<StoredEvent>), Error> {
        let (mut obj, ns, name) = self.normalise(ty, namespace, obj)?;
        if let Some(p) = name_in_path
            && p != name
        {
            return Err(Error::Status {
                code: 400,
                body: status(
                    400,
                    "BadRequest",
                    "the name of the object does not match the name on the URL",
                ),
            });
        }
        let key = (ns.clone(), name.clone());
        let current = self.get(ty, &ns, &name)?;
        let sent_rv = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let cur_rv = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if let Some(sent) = sent_rv.as_deref()
            && Some(sent) != cur_rv
        {
            let t = &self.types[ty];
            return Err(Error::Status {
                code: 409,
                body: status(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                        t.qualified()
                    ),
                ),
            });
        }
        crate::patch::validate(
            &self.types[ty].kind,
            &self.types[ty].qualified(),
            Some(&current),
            &obj,
        )?;
        let uid = current.pointer("/metadata/uid").cloned();
        if let Some(ts) = current.pointer("/metadata/creationTimestamp").cloned()
            && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert("creationTimestamp".into(), ts);
        }
        self.stamp(&mut obj, uid);
        self.objects.entry(ty).or_default().insert(key, obj.clone());
        let ev = self.record(ty, &ns, EventType::Modified, obj.clone());
        Ok((obj, ev))
    }

    pub fn delete(
        &mut self,
        ty: usize,
        namespace: &str,
        name: &str,
    ) -> Result<(Value, Arc<StoredEvent>), Error> {
        let key = (namespace.to_owned(), name.to_owned());
        let mut obj = self
            .objects
            .get_mut(&ty)
            .and_then(|m| m.remove(&key))
            .ok_or_else(|| not_found(&self.types[ty], name))?;
        self.rv += 1;
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        }
        let ev = self.record(ty, namespace, EventType::Deleted, obj.clone());
        Ok((obj, ev))
    }
}
