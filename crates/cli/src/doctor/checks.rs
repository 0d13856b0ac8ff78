//! What a check is: its id, status, the object it is about, a message and a fix.

use serde::Serialize;

/// How a check came out. Only `Fail` makes `winkube doctor` exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// The object a check is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn cluster(kind: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: None,
            name: name.to_owned(),
        }
    }

    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier (`node.ready`, `cluster.crd`, ...; docs/windows-nodes.md).
    pub id: &'static str,
    pub status: Status,
    pub object: ObjectRef,
    pub message: String,
    /// A command that fixes or diagnoses a failure or warning; `None` when it passed.
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(id: &'static str, object: &ObjectRef, message: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Pass,
            object: object.clone(),
            message: message.into(),
            fix: None,
        }
    }

    pub fn problem(
        id: &'static str,
        status: Status,
        object: &ObjectRef,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            id,
            status,
            object: object.clone(),
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}
