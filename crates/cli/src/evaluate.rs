//! What `admit` and `lint` share: their evaluation flags, reading the state, policy and
//! inputs, and running gMSA admission then the Windows policies on one pod.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use winkube_policy::Finding;
use winkube_state::FileView;

use crate::admit;
use crate::documents::{InputArgs, read_inputs};
use crate::windows;

/// How to build a state directory from a cluster, for messages and `--help`.
pub const STATE_HOWTO: &str = "kubectl get gmsacredentialspecs,clusterroles,clusterrolebindings,roles,rolebindings,nodes,runtimeclasses -A -o yaml > state/cluster.yaml";

/// The evaluation flags of `admit` and `lint`.
#[derive(Args)]
pub struct EvalArgs {
    /// Directory of manifests describing the cluster (credspecs, RBAC, service accounts,
    /// nodes, RuntimeClasses, pull secrets, images.yaml)
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Namespace of objects that do not set metadata.namespace
    #[arg(long, short = 'n', value_name = "NS", default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    pub policy: windows::PolicyArgs,
    #[command(flatten)]
    pub inputs: InputArgs,
}

/// Reads everything [`load`] reads and starts the async runtime. Input errors (a file
/// that does not parse) are printed and the rest is still checked; errors in the state,
/// the policy or the flags stop everything (exit code 2).
pub fn prepare(args: &EvalArgs) -> Result<(Loaded, tokio::runtime::Runtime), ExitCode> {
    let loaded = load(args).map_err(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
        ExitCode::from(2)
    })?;
    for n in &loaded.notes {
        eprintln!("note: {n}");
    }
    for e in &loaded.input_errors {
        eprintln!("error: {e}");
    }
    Ok((loaded, runtime()?))
}

/// 2 when an input could not be read, else 1 when any pod was denied, else 0.
pub fn exit_code(loaded: &Loaded, denied: usize) -> ExitCode {
    if !loaded.input_errors.is_empty() {
        ExitCode::from(2)
    } else if denied > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Everything `admit` and `lint` read before evaluating anything.
pub struct Loaded {
    /// The state directory plus the cluster state found among the inputs.
    pub view: FileView,
    /// Where the cluster state came from (`--state`, state objects among the inputs, a
    /// live cluster).
    pub state: admit::StateSource,
    pub inputs: Vec<admit::Input>,
    /// Inputs that could not be read or parsed (already printed).
    pub input_errors: Vec<String>,
    /// Files skipped because they are not Kubernetes manifests (already printed).
    pub notes: Vec<String>,
    pub policy: winkube_policy::windows::WindowsPolicyConfig,
    /// `None` with `--offline`.
    pub resolver: Option<winkube_registry::Resolver>,
}

/// Reads the state, the policy and every input. Errors in the state, the policy or the
/// registry flags are returned (nothing is evaluated); input errors are kept in
/// [`Loaded::input_errors`].
fn load(args: &EvalArgs) -> Result<Loaded, Vec<String>> {
    let (state, policy_args, namespace) =
        (args.state.as_ref(), &args.policy, args.namespace.as_str());
    let mut errors = Vec::new();
    let mut view = match state {
        Some(dir) => match FileView::load_dir(dir) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e.to_string());
                FileView::empty()
            }
        },
        None => FileView::empty(),
    };
    let policy = match windows::load_policy(policy_args.policy.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            errors.push(e.0);
            Default::default()
        }
    };
    view.set_hyperv_handlers(policy.os_build.hyperv_handlers.clone());
    let resolver = match windows::resolver(policy_args) {
        Ok(i) => Some(i),
        Err(e) => {
            errors.push(e.0);
            None
        }
    };
    let read = read_inputs(&args.inputs);
    let mut input_errors = read.errors;
    let mut inputs = Vec::new();
    let mut state_objects = 0;
    for doc in read.docs {
        match admit::prepare(doc, namespace, &mut view) {
            Ok(input) => {
                state_objects += input.state;
                inputs.push(input);
            }
            Err(e) => input_errors.push(e.0),
        }
    }
    match resolver {
        Some(resolver) if errors.is_empty() => Ok(Loaded {
            view,
            state: if state.is_some() || state_objects > 0 {
                admit::StateSource::Files
            } else {
                admit::StateSource::None
            },
            inputs,
            input_errors,
            notes: read.notes,
            policy,
            resolver,
        }),
        _ => {
            errors.extend(input_errors);
            Err(errors)
        }
    }
}

/// The commands' single-threaded runtime (I/O and timers: the registry and kube clients
/// need both); an error is printed and becomes the exit code.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// The gMSA admission, then (when it admitted the pod and any Windows policy is on) the
/// Windows policies on its result.
pub struct Evaluated {
    pub gmsa: admit::Verdict,
    pub windows: Option<windows::WindowsOutcome>,
}

impl Evaluated {
    pub fn denial(&self) -> Option<(u16, &str)> {
        if !self.gmsa.admitted.allowed {
            return Some((self.gmsa.admitted.code, &self.gmsa.admitted.message));
        }
        self.windows.as_ref().and_then(|w| w.denial())
    }

    /// Every finding (fields are the pod's), in the order the phases produced them: gMSA
    /// (its warnings, then its denial), winkube's own, then the Windows policies'.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.gmsa
            .admitted
            .findings
            .iter()
            .chain(&self.gmsa.extra_warnings)
            .chain(self.windows.iter().flat_map(|w| &w.findings))
    }

    /// The admitted pod (meaningful only when not denied).
    pub fn pod(&self) -> &serde_json::Value {
        match &self.windows {
            Some(w) => &w.pod,
            None => &self.gmsa.admitted.pod,
        }
    }
}

pub async fn evaluate(
    loaded: &Loaded,
    target: &admit::Target,
    hostname: Option<String>,
) -> Evaluated {
    let gmsa = admit::admit_target(target, &loaded.view, loaded.state, hostname).await;
    let windows = if gmsa.admitted.allowed && !windows::all_off(&loaded.policy) {
        Some(
            windows::admit(
                &gmsa.admitted.pod,
                &target.namespace,
                &loaded.policy,
                &loaded.view,
                loaded.resolver.as_ref(),
            )
            .await,
        )
    } else {
        None
    };
    Evaluated { gmsa, windows }
}

pub fn write_stdout(text: &str) -> Result<(), ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            eprintln!("error: cannot write the output: {e}");
            ExitCode::FAILURE
        })
}

/// A generator's result: the text on stdout (exit 0), or its error on stderr and exit code
/// 2 (bad flags or input), with nothing printed.
pub fn print_generated(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => match write_stdout(&text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
