//! The report as text (by node, then the cluster) or as JSON (a stable shape, documented in
//! docs/windows-nodes.md, "Checking a node: winkube doctor").

use serde_json::{Value, json};

use super::checks::{Check, Status};
use super::cluster::Report;

/// `apiVersion` of the JSON report; a change of shape gets a new one.
pub const API_VERSION: &str = "doctor.winkube.io/v1";

pub fn json(report: &Report) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "DoctorReport",
        "serverVersion": report.server_version,
        "namespace": report.namespace,
        "summary": {
            "pass": report.count(Status::Pass),
            "warn": report.count(Status::Warn),
            "fail": report.count(Status::Fail),
        },
        "nodes": report.nodes,
        "cluster": report.cluster,
    })
}

fn line(out: &mut String, c: &Check, with_object: bool) {
    let object = if with_object {
        format!("{}: ", c.object)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "  {:<4}  {:<30} {object}{}\n",
        c.status.as_str(),
        c.id,
        c.message
    ));
    if let Some(fix) = &c.fix {
        out.push_str(&format!("        fix: {fix}\n"));
    }
}

pub fn text(report: &Report) -> String {
    let mut out = format!(
        "winkube doctor: API server {}, winkube in namespace {}\n",
        report.server_version, report.namespace
    );
    for node in &report.nodes {
        out.push_str(&format!("\nNode {}\n", node.name));
        for c in &node.checks {
            line(&mut out, c, false);
        }
    }
    out.push_str("\nCluster\n");
    for c in &report.cluster {
        line(&mut out, c, true);
    }
    let (pass, warn, fail) = (
        report.count(Status::Pass),
        report.count(Status::Warn),
        report.count(Status::Fail),
    );
    out.push_str(&format!(
        "\n{} Windows node(s): {pass} passed, {warn} warning(s), {fail} failed\n",
        report.nodes.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::checks::ObjectRef;
    use crate::doctor::cluster::NodeReport;

    fn report() -> Report {
        let node = ObjectRef::cluster("Node", "win-1");
        Report {
            server_version: "v1.33.4".into(),
            namespace: "winkube".into(),
            nodes: vec![NodeReport {
                name: "win-1".into(),
                checks: vec![
                    Check::pass("node.ready", &node, "Ready"),
                    Check::problem(
                        "node.taint",
                        Status::Fail,
                        &node,
                        "not tainted",
                        "kubectl taint node win-1 os=windows:NoSchedule",
                    ),
                ],
            }],
            cluster: vec![Check::problem(
                "cluster.webhook-service",
                Status::Warn,
                &ObjectRef::namespaced("Service", "winkube", "winkube"),
                "odd",
                "kubectl get svc",
            )],
        }
    }

    #[test]
    fn json_shape_is_stable() {
        let v = json(&report());
        assert_eq!(
            v,
            json!({
                "apiVersion": "doctor.winkube.io/v1",
                "kind": "DoctorReport",
                "serverVersion": "v1.33.4",
                "namespace": "winkube",
                "summary": {"pass": 1, "warn": 1, "fail": 1},
                "nodes": [{"name": "win-1", "checks": [
                    {"id": "node.ready", "status": "pass", "object": {"kind": "Node", "name": "win-1"}, "message": "Ready", "fix": null},
                    {"id": "node.taint", "status": "fail", "object": {"kind": "Node", "name": "win-1"}, "message": "not tainted", "fix": "kubectl taint node win-1 os=windows:NoSchedule"},
                ]}],
                "cluster": [
                    {"id": "cluster.webhook-service", "status": "warn", "object": {"kind": "Service", "namespace": "winkube", "name": "winkube"}, "message": "odd", "fix": "kubectl get svc"},
                ],
            })
        );
    }

    #[test]
    fn text_groups_by_node_then_cluster() {
        let t = text(&report());
        let node = t.find("\nNode win-1\n").unwrap();
        let cluster = t.find("\nCluster\n").unwrap();
        assert!(node < cluster, "{t}");
        assert!(t.contains("  fail  node.taint"), "{t}");
        assert!(t.contains("        fix: kubectl taint node win-1 os=windows:NoSchedule\n"));
        assert!(t.contains("Service winkube/winkube: odd"), "{t}");
        assert!(t.ends_with("1 Windows node(s): 1 passed, 1 warning(s), 1 failed\n"));
    }
}
