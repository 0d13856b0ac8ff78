//! The Windows side (compiled on Windows only; type-checked from Linux by
//! `.ci/windows-check.sh`): the node's facts, the service manager and the firewall behind
//! [`System`], and the kubelet's service runner. No unsafe code: the service manager
//! through `windows-service`'s safe API, everything else through argument vectors
//! (`reg.exe`, `netsh.exe`; no shell, no formatted command line, no `wmic`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceDependency, ServiceErrorControl, ServiceExitCode, ServiceFailureActions,
    ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState, ServiceStatus,
    ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};
use winkube_api::windows::WindowsBuild;

use crate::Error;
use crate::apply::System;
use crate::facts::{NodeFacts, ServiceFacts};
use crate::paths::{Layout, SERVICE_CONFIG_FILE};
use crate::plan::{BINARIES, FIREWALL_RULE_NAME, FirewallRule, SELF_BINARY, ServiceDefinition};
use crate::service::{KubeletServiceConfig, SERVICE_NAME, run_kubelet};

/// ERROR_SERVICE_DOES_NOT_EXIST.
const NO_SUCH_SERVICE: i32 = 1060;

fn scm_err(what: &str, e: windows_service::Error) -> Error {
    Error::System(format!("{what}: {e}"))
}

fn not_found(e: &windows_service::Error) -> bool {
    matches!(e, windows_service::Error::Winapi(io) if io.raw_os_error() == Some(NO_SUCH_SERVICE))
}

/// `reg query KEY [/v VALUE]`: whether it exists, and its output.
fn reg_query(key: &str, value: Option<&str>) -> Result<Option<String>, Error> {
    let mut cmd = Command::new("reg.exe");
    cmd.args(["query", key]);
    if let Some(v) = value {
        cmd.args(["/v", v]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::System(format!("running reg.exe: {e}")))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The running Windows build, from the registry (`wmic` is gone on Server 2025).
fn windows_build() -> Result<Option<WindowsBuild>, Error> {
    let key = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion";
    let Some(out) = reg_query(key, Some("CurrentBuildNumber"))? else {
        return Ok(None);
    };
    // "    CurrentBuildNumber    REG_SZ    20348"
    let build = out
        .lines()
        .find(|l| l.trim_start().starts_with("CurrentBuildNumber"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse::<u32>().ok());
    Ok(build.map(WindowsBuild::ten))
}

fn reboot_pending() -> Result<bool, Error> {
    let keys = [
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
        r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
    ];
    for k in keys {
        if reg_query(k, None)?.is_some() {
            return Ok(true);
        }
    }
    Ok(reg_query(
        r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager",
        Some("PendingFileRenameOperations"),
    )?
    .is_some())
}

fn containerd_pipe() -> bool {
    // Listing the pipe namespace does not connect (a probe connection would take one of
    // containerd's pipe instances).
    std::fs::read_dir(r"\\.\pipe\")
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().eq_ignore_ascii_case("containerd-containerd"))
        })
        .unwrap_or(false)
}

fn service_facts(scm: &ServiceManager, name: &str) -> Result<Option<ServiceFacts>, Error> {
    let svc = match scm.open_service(name, ServiceAccess::QUERY_CONFIG) {
        Ok(s) => s,
        Err(e) if not_found(&e) => return Ok(None),
        Err(e) => return Err(scm_err(&format!("service {name}"), e)),
    };
    let config = svc
        .query_config()
        .map_err(|e| scm_err(&format!("service {name}"), e))?;
    let actions = svc
        .get_failure_actions()
        .map_err(|e| scm_err(&format!("service {name}"), e))?;
    Ok(Some(ServiceFacts {
        command_line: config.executable_path.to_string_lossy().into_owned(),
        dependencies: config
            .dependencies
            .iter()
            .map(|d| match d {
                ServiceDependency::Service(n) => n.to_string_lossy().into_owned(),
                ServiceDependency::Group(g) => format!("+{}", g.to_string_lossy()),
            })
            .collect(),
        start: match config.start_type {
            ServiceStartType::AutoStart => "automatic",
            ServiceStartType::OnDemand => "manual",
            ServiceStartType::Disabled => "disabled",
            ServiceStartType::BootStart | ServiceStartType::SystemStart => "system",
        }
        .into(),
        restarts_on_failure: actions.actions.is_some_and(|a| {
            !a.is_empty()
                && a.iter()
                    .all(|x| x.action_type == ServiceActionType::Restart)
        }),
    }))
}

fn firewall_rule_exists(name: &str) -> Result<bool, Error> {
    let status = Command::new("netsh.exe")
        .args(["advfirewall", "firewall", "show", "rule"])
        .arg(format!("name={name}"))
        .output()
        .map_err(|e| Error::System(format!("running netsh.exe: {e}")))?
        .status;
    Ok(status.success())
}

/// Reads the node.
pub fn gather_facts(layout: &Layout) -> Result<NodeFacts, Error> {
    let scm = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT).map_err(
        |e| {
            scm_err(
                "connecting to the service manager (run as Administrator)",
                e,
            )
        },
    )?;
    // The Containers feature installs the Host Compute Service.
    let containers_feature = service_facts(&scm, "vmcompute")?.is_some();
    let mut facts = NodeFacts {
        windows_build: windows_build()?,
        containers_feature,
        containerd_pipe: containerd_pipe(),
        reboot_pending: reboot_pending()?,
        service: service_facts(&scm, SERVICE_NAME)?,
        firewall_rule: firewall_rule_exists(FIREWALL_RULE_NAME)?,
        ..NodeFacts::default()
    };
    let files: Vec<String> = BINARIES
        .iter()
        .chain([&SELF_BINARY, &SERVICE_CONFIG_FILE])
        .map(|n| layout.install(n))
        .collect();
    facts.read_files(None, &layout.directories(), &files)?;
    Ok(facts)
}

fn run(argv: &[String]) -> Result<(), Error> {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .map_err(|e| Error::System(format!("running {}: {e}", argv[0])))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::System(format!(
            "{} failed ({}): {}",
            crate::plan::windows_command_line(argv),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        )))
    }
}

/// The service manager and the firewall of this machine.
pub struct WindowsSystem;

impl System for WindowsSystem {
    fn install_service(&mut self, def: &ServiceDefinition, existing: bool) -> Result<(), Error> {
        let what = format!("service {}", def.name);
        let scm = ServiceManager::local_computer(
            None::<&str>,
            ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
        )
        .map_err(|e| scm_err("connecting to the service manager", e))?;
        let info = ServiceInfo {
            name: OsString::from(&def.name),
            display_name: OsString::from(&def.display_name),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: PathBuf::from(&def.executable),
            launch_arguments: def.arguments.iter().map(OsString::from).collect(),
            dependencies: def
                .dependencies
                .iter()
                .map(|d| ServiceDependency::Service(OsString::from(d)))
                .collect(),
            account_name: None,
            account_password: None,
        };
        // Restart actions need START access.
        let access = ServiceAccess::QUERY_CONFIG
            | ServiceAccess::CHANGE_CONFIG
            | ServiceAccess::START
            | ServiceAccess::DELETE;
        let svc = if existing {
            let svc = scm
                .open_service(&def.name, access)
                .map_err(|e| scm_err(&what, e))?;
            svc.change_config(&info).map_err(|e| scm_err(&what, e))?;
            svc
        } else {
            scm.create_service(&info, access)
                .map_err(|e| scm_err(&what, e))?
        };
        let configure = || -> Result<(), windows_service::Error> {
            svc.set_description(&def.description)?;
            let restart = || ServiceAction {
                action_type: ServiceActionType::Restart,
                delay: Duration::from_secs(u64::from(def.restart.delay_seconds)),
            };
            svc.update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(u64::from(
                    def.restart.reset_after_seconds,
                ))),
                reboot_msg: None,
                command: None,
                actions: Some((0..def.restart.attempts).map(|_| restart()).collect()),
            })?;
            // The runner exits non-zero when the kubelet dies: that counts as a failure.
            svc.set_failure_actions_on_non_crash_failures(true)
        };
        if let Err(e) = configure() {
            if !existing {
                let _ = svc.delete();
            }
            return Err(scm_err(&what, e));
        }
        Ok(())
    }

    fn remove_service(&mut self, name: &str) -> Result<(), Error> {
        let scm = ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
            .map_err(|e| scm_err("connecting to the service manager", e))?;
        let svc = scm
            .open_service(name, ServiceAccess::DELETE)
            .map_err(|e| scm_err(&format!("service {name}"), e))?;
        svc.delete()
            .map_err(|e| scm_err(&format!("service {name}"), e))
    }

    fn add_firewall_rule(&mut self, rule: &FirewallRule) -> Result<(), Error> {
        run(&rule.add_command())
    }

    fn remove_firewall_rule(&mut self, rule: &FirewallRule) -> Result<(), Error> {
        run(&rule.delete_command())
    }
}

static CONFIG: Mutex<Option<KubeletServiceConfig>> = Mutex::new(None);

define_windows_service!(ffi_service_main, service_main);

/// Runs as the `kubelet` service (blocks until the service stops).
pub fn run_service(config: KubeletServiceConfig) -> Result<(), Error> {
    *CONFIG.lock().unwrap_or_else(|e| e.into_inner()) = Some(config);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|e| {
        scm_err(
            "starting the service dispatcher (is this run by the service manager?)",
            e,
        )
    })
}

fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: if code == 0 {
            ServiceExitCode::Win32(0)
        } else {
            ServiceExitCode::ServiceSpecific(code)
        },
        checkpoint: 0,
        wait_hint: Duration::from_secs(10),
        process_id: None,
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let _ = run_as_service();
}

fn run_as_service() -> Result<(), Error> {
    let config = CONFIG
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| Error::System("service configuration missing".into()))?;
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let stopping = Arc::new(AtomicBool::new(false));
    let stopping_in_handler = Arc::clone(&stopping);
    let handle = service_control_handler::register(SERVICE_NAME, move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            stopping_in_handler.store(true, Ordering::SeqCst);
            let _ = tx.lock().unwrap_or_else(|e| e.into_inner()).send(());
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    })
    .map_err(|e| scm_err("registering the service control handler", e))?;
    handle
        .set_service_status(status(
            ServiceState::Running,
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
            0,
        ))
        .map_err(|e| scm_err("reporting the service status", e))?;
    let result = run_kubelet(&config, &rx);
    // A kubelet that exits on its own is a failure (the service manager restarts it); a
    // stop that was asked for is not.
    let code = match &result {
        _ if stopping.load(Ordering::SeqCst) => 0,
        Ok(s) if s.success() => 0,
        _ => 1,
    };
    if let Err(e) = &result {
        let log = std::path::Path::new(&config.log_file);
        if let Ok(mut l) =
            crate::service::RotatingLog::open(log, config.log_max_bytes, config.log_keep)
        {
            let _ = l.write_line(format!("winkube-node: {e}").as_bytes());
        }
    }
    handle
        .set_service_status(status(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            code,
        ))
        .map_err(|e| scm_err("reporting the service status", e))
}
