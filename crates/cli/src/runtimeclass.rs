//! `winkube runtimeclass`: RuntimeClasses for process and Hyper-V isolation per Windows
//! build (deploy/runtimeclasses.yaml is its default output).

use std::process::ExitCode;

use clap::Args;
use winkube_api::windows::{RuntimeClassOptions, Taint, WindowsBuild, generate_runtime_classes};
use winkube_policy::windows::quantity;

use crate::documents::{ObjectsFormat, render, to_yaml_stream};

pub const ABOUT: &str = "Print RuntimeClasses for process and Hyper-V isolation per Windows build";

pub const LONG: &str = "\
Print RuntimeClasses (node.k8s.io/v1) for Windows containers: per Windows build, a
process-isolation class `windows-<release>` pinned to nodes of that build
(node.kubernetes.io/windows-build), and a Hyper-V class `windows-<release>-hyperv` that runs
images of that build on any Windows node of that build or newer, with the utility VM's
pod overhead (512Mi / 100m by default). Both tolerate the Windows nodes' taint.

Handlers are configurable: containerd's defaults are runhcs-wcow-process and
runhcs-wcow-hypervisor; in --hyperv-handler, {build} is replaced by the build number
(runhcs-wcow-hypervisor-{build} -> runhcs-wcow-hypervisor-17763), for sites that configure
one Hyper-V runtime per guest build. The Windows policies recognise the generated classes
by their windows.winkube.io/isolation label.";

pub const EXAMPLES: &str = "\
Examples:
  winkube runtimeclass > deploy/runtimeclasses.yaml
  winkube runtimeclass --build 2022 --no-hyperv | kubectl apply -f -
  winkube runtimeclass --build 2019 --build 10.0.20348 \\
      --hyperv-handler 'runhcs-wcow-hypervisor-{build}' --taint sku=windows:NoSchedule";

#[derive(Args, Clone, Debug)]
pub struct RuntimeClassArgs {
    /// Windows build: a release (2019, 2022, 2025, ltsc2022, 1809, ...) or major.minor.build;
    /// repeatable. Default: 2019, 2022 and 2025
    #[arg(long = "build", value_name = "BUILD", value_parser = parse_build)]
    pub builds: Vec<WindowsBuild>,
    /// Handler of the process-isolation classes
    #[arg(long, value_name = "NAME", default_value = winkube_api::windows::DEFAULT_PROCESS_HANDLER)]
    pub process_handler: String,
    /// Handler of the Hyper-V classes; {build} is replaced by the build number
    #[arg(long, value_name = "TEMPLATE", default_value = winkube_api::windows::DEFAULT_HYPERV_HANDLER)]
    pub hyperv_handler: String,
    /// Generate no Hyper-V classes
    #[arg(long)]
    pub no_hyperv: bool,
    /// Generate no process-isolation classes
    #[arg(long)]
    pub no_process: bool,
    /// The Windows nodes' taint to tolerate (key=value:Effect or key:Effect); "" when the
    /// nodes are not tainted
    #[arg(long, value_name = "TAINT", default_value = "os=windows:NoSchedule")]
    pub taint: String,
    /// Pod overhead memory of a Hyper-V pod (its utility VM)
    #[arg(long, value_name = "QUANTITY", default_value = "512Mi")]
    pub overhead_memory: String,
    /// Pod overhead CPU of a Hyper-V pod
    #[arg(long, value_name = "QUANTITY", default_value = "100m")]
    pub overhead_cpu: String,
    /// Node architecture (kubernetes.io/arch)
    #[arg(long, value_name = "ARCH", default_value = "amd64")]
    pub arch: String,
    /// Output format: a YAML stream (with a header naming the command), or one JSON `List`
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: ObjectsFormat,
}

fn parse_build(s: &str) -> Result<WindowsBuild, String> {
    let b = WindowsBuild::parse(s).map_err(|_| {
        format!("{s:?} is not a Windows build (use a release such as 2019, 2022, 2025, or a build such as 10.0.20348)")
    })?;
    if b.major != 10 || b.minor != 0 {
        return Err(format!(
            "{s:?}: Windows container builds are 10.0.x (Windows Server 2016 and later)"
        ));
    }
    Ok(b)
}

/// Checks a resource quantity; a memory quantity must be whole bytes.
fn check_quantity(flag: &str, value: &str, memory: bool) -> Result<(), String> {
    let q = quantity::parse(value).map_err(|e| format!("--{flag} {value:?}: {e}"))?;
    if memory && q.is_millis() {
        return Err(format!(
            "--{flag} {value:?} is in millibytes ('m' means milli); did you mean {}Mi?",
            value.trim_end_matches('m')
        ));
    }
    Ok(())
}

/// Turns the flags into generator options.
pub fn options(args: &RuntimeClassArgs) -> Result<RuntimeClassOptions, String> {
    if args.no_hyperv && args.no_process {
        return Err("--no-hyperv and --no-process together leave nothing to generate".into());
    }
    let defaults = RuntimeClassOptions::default();
    check_quantity("overhead-memory", &args.overhead_memory, true)?;
    check_quantity("overhead-cpu", &args.overhead_cpu, false)?;
    let taint = match args.taint.trim() {
        "" => None,
        t => Some(Taint::parse(t).map_err(|e| format!("--taint: {e}"))?),
    };
    if args.arch.is_empty() {
        return Err("--arch must not be empty".into());
    }
    Ok(RuntimeClassOptions {
        builds: if args.builds.is_empty() {
            defaults.builds
        } else {
            args.builds.clone()
        },
        process_handler: args.process_handler.clone(),
        hyperv_handler: args.hyperv_handler.clone(),
        process: !args.no_process,
        hyperv: !args.no_hyperv,
        taint,
        hyperv_overhead_memory: args.overhead_memory.clone(),
        hyperv_overhead_cpu: args.overhead_cpu.clone(),
        architecture: args.arch.clone(),
    })
}

/// The RuntimeClasses as JSON values, and the releases they are for.
fn objects(args: &RuntimeClassArgs) -> Result<(Vec<serde_json::Value>, Vec<String>), String> {
    let opts = options(args)?;
    let classes = generate_runtime_classes(&opts).map_err(|e| e.to_string())?;
    let values = classes
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let releases: Vec<String> = opts.builds.iter().map(|b| b.describe()).collect::<Vec<_>>();
    Ok((values, releases))
}

/// The YAML stream, with a header naming the command that regenerates it.
pub fn yaml(args: &RuntimeClassArgs) -> Result<String, String> {
    let (values, releases) = objects(args)?;
    let body = to_yaml_stream(&values).map_err(|e| e.to_string())?;
    Ok(format!(
        "{}# Builds: {}\n{body}",
        crate::documents::generated_header(&command_line()),
        releases.join(", ")
    ))
}

/// `runtimeclass` and the flags this process was given, quoted for a shell; the default
/// output is deploy/runtimeclasses.yaml.
fn command_line() -> String {
    let flags: Vec<String> = std::env::args()
        .skip_while(|a| a != "runtimeclass")
        .skip(1)
        .map(|a| shell_quote(&a))
        .collect();
    if flags.is_empty() {
        "runtimeclass > deploy/runtimeclasses.yaml".to_owned()
    } else {
        format!("runtimeclass {}", flags.join(" "))
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,/:=@%+{}".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn run(args: &RuntimeClassArgs) -> ExitCode {
    crate::evaluate::print_generated(match args.output {
        ObjectsFormat::Yaml => yaml(args),
        ObjectsFormat::Json => objects(args).and_then(|(o, _)| render(&o, ObjectsFormat::Json)),
    })
}
