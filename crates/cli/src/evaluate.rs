//! What `admit` and `lint` share: their evaluation flags, reading the state, policy and
//! inputs, and running gMSA admission then the Windows policies on one pod.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use winkube_state::FileView;
use winkube_state::documents::Source;

use crate::admit;
use crate::documents::{read_source, source_from_arg};
use crate::windows;

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
    /// Manifest files; `-` reads standard input
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// Reads everything [`load`] reads and starts the async runtime; on any error, prints
/// them all and gives the exit code (2 for bad input).
pub fn prepare(args: &EvalArgs) -> Result<(Loaded, tokio::runtime::Runtime), ExitCode> {
    let loaded = load(args).map_err(|errors| {
        for e in errors {
            eprintln!("error: {e}");
        }
        ExitCode::from(2)
    })?;
    Ok((loaded, runtime()?))
}

/// 1 when any pod was denied, else 0.
pub fn exit_code(denied: usize) -> ExitCode {
    if denied > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Everything `admit` and `lint` read before evaluating anything.
pub struct Loaded {
    pub view: FileView,
    pub has_state: bool,
    pub inputs: Vec<admit::Input>,
    pub policy: winkube_policy::windows::WindowsPolicyConfig,
    /// `None` with `--offline`.
    pub resolver: Option<winkube_registry::Resolver>,
}

/// Reads the state, the policy and every input; all errors are reported together (exit 2)
/// and nothing is evaluated when there is one.
fn load(args: &EvalArgs) -> Result<Loaded, Vec<String>> {
    let (state, policy_args, namespace, files) = (
        args.state.as_ref(),
        &args.policy,
        args.namespace.as_str(),
        &args.files,
    );
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
    let mut stdin_used = false;
    let mut inputs = Vec::new();
    for file in files {
        let source = source_from_arg(file);
        if source == Source::Stdin {
            if stdin_used {
                errors.push("`-` (standard input) given more than once".to_owned());
                continue;
            }
            stdin_used = true;
        }
        match read_source(&source) {
            Ok(docs) => {
                if docs.is_empty() {
                    errors.push(format!("{source}: no Kubernetes objects found"));
                }
                for doc in docs {
                    match admit::prepare(doc, namespace) {
                        Ok(input) => inputs.push(input),
                        Err(e) => errors.push(e.0),
                    }
                }
            }
            Err(e) => errors.push(e.0),
        }
    }
    match resolver {
        Some(resolver) if errors.is_empty() => Ok(Loaded {
            view,
            has_state: state.is_some(),
            inputs,
            policy,
            resolver,
        }),
        _ => Err(errors),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    // I/O and timers: the registry client needs both.
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

    /// Every warning, in the order the phases produced them.
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.gmsa
            .admitted
            .warnings
            .iter()
            .chain(&self.gmsa.extra_warnings)
            .chain(self.windows.iter().flat_map(|w| &w.warnings))
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
    let state = loaded.has_state.then_some(&loaded.view);
    let gmsa = admit::admit_target(target, &loaded.view, state, hostname).await;
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
