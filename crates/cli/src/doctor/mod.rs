//! `winkube doctor`: checks a live cluster's Windows nodes and winkube's installation, and
//! says what to fix. `fetch` reads the cluster once (paged lists); `node` and `cluster` judge
//! the objects (pure functions over k8s-openapi types, table-tested), with `pods` and
//! `version` for what they share; `checks` is what a finding is; `render` prints text or
//! JSON.

pub mod checks;
pub mod cluster;
#[cfg(test)]
mod cluster_tests;
pub mod fetch;
pub mod node;
#[cfg(test)]
mod node_tests;
pub mod pods;
pub mod render;
pub mod version;

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use winkube_api::windows::Taint;

use crate::apiclient::KubeArgs;
use crate::manifests::NAME;

pub const ABOUT: &str = "Check the Windows nodes and winkube's installation in a live cluster";

pub const LONG: &str = "\
Check the Windows nodes and winkube's installation in a live cluster, and say what to fix.

For every Windows node (label kubernetes.io/os=windows): Ready; the
node.kubernetes.io/windows-build label, with a build from winkube's table; the Windows taint;
the kubelet within the supported version skew of the API server (never newer, at most three
minor versions older, two before 1.28); a running kube-proxy pod of the kubelet's version and
a running CNI pod (Calico or Flannel); a RuntimeClass whose nodeSelector selects the node's
build. For the cluster: the GMSACredentialSpec CRD with v1 served and stored; winkube's
webhook configurations with a caBundle; their Service with ready endpoints; every credspec a
running pod on a Windows node names.

Each check has an id, a status (pass, warn, fail), the object it is about, a message and a
command that fixes or diagnoses it. The client is configured as kubectl's (--kubeconfig,
$KUBECONFIG, ~/.kube/config, or the in-cluster service account); doctor only reads.";

pub const EXAMPLES: &str = "\
Examples:
  winkube doctor
  winkube doctor --namespace gmsa --output json | jq '.nodes[].checks[] | select(.status != \"pass\")'
  winkube doctor --kubeconfig ~/.kube/prod --context prod-admin --taint windows:NoExecute

Exit codes: 0 no check failed (warnings allowed), 1 a check failed or the cluster could not
be read, 2 bad usage or configuration (no kubeconfig, unknown context).";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Checks grouped by node, then the cluster's
    Text,
    /// One JSON document (apiVersion doctor.winkube.io/v1, kind DoctorReport)
    Json,
}

#[derive(Args, Clone, Debug)]
pub struct DoctorArgs {
    /// The namespace winkube is installed in (its Service and Deployment are looked for there)
    #[arg(long, short = 'n', default_value = NAME, value_parser = crate::manifests::parse_namespace)]
    pub namespace: String,
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// The Windows nodes' taint, as winkube's policies tolerate it (key=value:Effect)
    #[arg(long, default_value = "os=windows:NoSchedule", value_parser = crate::kube_proxy::parse_taint)]
    pub taint: Taint,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Objects per LIST request: large lists are read in pages of this size (as kubectl's
    /// --chunk-size)
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_size: u32,
}

/// Runs the checks; the exit code says whether any failed.
pub fn run(args: DoctorArgs) -> ExitCode {
    let runtime = match crate::evaluate::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(run_async(args))
}

async fn run_async(args: DoctorArgs) -> ExitCode {
    winkube_webhook::install_crypto_provider();
    let (client, url) = match args.kube.connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let snapshot = match fetch::snapshot(&client, &args.namespace, args.chunk_size).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e} (API server {url})");
            return ExitCode::FAILURE;
        }
    };
    let report = cluster::report(&snapshot, &args.namespace, &args.taint);
    let text = match args.output {
        Output::Text => render::text(&report),
        Output::Json => match serde_json::to_string_pretty(&render::json(&report)) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("error: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Err(code) = crate::evaluate::write_stdout(&text) {
        return code;
    }
    if report.count(checks::Status::Fail) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
