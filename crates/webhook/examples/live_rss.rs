//! Memory of the live view: peak and current resident size of a process whose `LiveView` has
//! synced N credspecs from the testkit API-server stand-in. The stand-in runs in a child
//! process (this same binary, `--api N`) so that its own store is not counted.
//!
//! Usage: `live_rss [N]` (default 10000): N credspecs; then a relist (every watch ended,
//! history compacted, one credspec added) is timed and measured.
//! `live_rss rbac N`: 10 credspecs and N RoleBindings (over 10 ClusterRoles, in N/10
//! namespaces) in rbac-cache mode. `live_rss nodes N`: the Windows view with N Windows nodes
//! (realistic objects: conditions, addresses, 20 images) and 3 RuntimeClasses.
//! Prints one line per measurement: `credspecs=N synced_in=.. VmHWM=.. kB ...`.
//! `bench/load.sh` runs the first form after the load cases.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use winkube_webhook::{
    AuthorizationMode, LiveView, LiveViewConfig, LiveWindowsOptions, LiveWindowsView, Readiness,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let count = |i: usize| args.get(i).map_or(Ok(10_000), |n| n.parse::<usize>());
    match args.get(1).map(String::as_str) {
        Some("--api") => api(
            Mode::parse(args.get(2).map_or("credspecs", String::as_str))?,
            count(3)?,
        ),
        Some("rbac") => view(Mode::Rbac, count(2)?),
        Some("nodes") => view(Mode::Nodes, count(2)?),
        Some("credspecs") => view(Mode::Credspecs, count(2)?),
        _ => view(Mode::Credspecs, count(1)?),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Credspecs,
    Rbac,
    Nodes,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode, Box<dyn std::error::Error>> {
        match s {
            "credspecs" => Ok(Mode::Credspecs),
            "rbac" => Ok(Mode::Rbac),
            "nodes" => Ok(Mode::Nodes),
            other => Err(format!("unknown mode {other}").into()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Credspecs => "credspecs",
            Mode::Rbac => "rbac",
            Mode::Nodes => "nodes",
        }
    }
}

/// Child: the stand-in with the mode's objects; prints its URL, token and CA, then serves
/// until its standard input closes. A line `relist` ends every watch, adds a credspec and
/// compacts the history (the next watch gets 410 and relists); `ok` is printed when done.
fn api(mode: Mode, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let api = winkube_testkit::ApiServer::start().await?;
        let credspecs = if mode == Mode::Credspecs { n } else { 10 };
        for i in 0..credspecs {
            api.create(credspec(i))?;
        }
        match mode {
            Mode::Credspecs => {}
            Mode::Rbac => {
                for k in 0..10 {
                    api.create(cluster_role(k))?;
                }
                for i in 0..n {
                    api.create(role_binding(i))?;
                }
            }
            Mode::Nodes => {
                for i in 0..n {
                    api.create(node(i))?;
                }
                for (name, build) in [
                    ("w2019", "10.0.17763"),
                    ("w2022", "10.0.20348"),
                    ("w2025", "10.0.26100"),
                ] {
                    api.create(serde_json::json!({
                        "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                        "metadata": {"name": name}, "handler": "runhcs-wcow-process",
                        "scheduling": {"nodeSelector": {"kubernetes.io/os": "windows",
                            "node.kubernetes.io/windows-build": build}}
                    }))?;
                }
            }
        }
        let ca = base64::engine::general_purpose::STANDARD.encode(api.ca().cert_der());
        println!("{}\n{}\n{ca}", api.url(), api.token());
        std::io::stdout().flush()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
        std::thread::spawn(move || {
            for line in std::io::stdin().lines().map_while(Result::ok) {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        // Serve until the parent closes our stdin.
        while let Some(line) = rx.recv().await {
            if line == "relist" {
                api.close_watches();
                api.create(credspec(credspecs))?;
                api.compact();
                println!("ok");
                std::io::stdout().flush()?;
            }
        }
        Ok(())
    })
}

/// Parent: a LiveView over the child's stand-in, measured once synced.
fn view(mode: Mode, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--api", mode.name(), &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || -> Result<String, Box<dyn std::error::Error>> {
        Ok(lines.next().ok_or("the stand-in exited early")??)
    };
    let (url, token, ca) = (next()?, next()?, next()?);
    let mut stdin = child.stdin.take().ok_or("no child stdin")?;
    let mut relist = || -> Result<(), Box<dyn std::error::Error>> {
        writeln!(stdin, "relist")?;
        stdin.flush()?;
        if next()? != "ok" {
            return Err("the stand-in did not relist".into());
        }
        Ok(())
    };
    let result = measure(mode, n, &url, &token, &ca, &mut relist);
    drop(stdin);
    let _ = child.wait();
    for line in result? {
        println!("{line}");
    }
    Ok(())
}

fn measure(
    mode: Mode,
    n: usize,
    url: &str,
    token: &str,
    ca: &str,
    relist: &mut dyn FnMut() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    winkube_webhook::install_crypto_provider();
    let mut cfg = kube::Config::new(url.parse()?);
    cfg.root_cert = Some(vec![base64::engine::general_purpose::STANDARD.decode(ca)?]);
    cfg.auth_info.token = Some(token.to_owned().into());
    // The same runtime shape as `winkube webhook`.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = kube::Client::try_from(cfg)?;
        let ready = Readiness::new();
        let started = Instant::now();
        let (credspecs, windows) = match mode {
            Mode::Nodes => {
                let w =
                    LiveWindowsView::start(client, LiveWindowsOptions::default(), ready.clone());
                (None, Some(w))
            }
            Mode::Credspecs | Mode::Rbac => {
                let authorization = if mode == Mode::Rbac {
                    AuthorizationMode::RbacCache
                } else {
                    AuthorizationMode::SubjectAccessReview
                };
                let cfg = LiveViewConfig {
                    authorization,
                    ..LiveViewConfig::default()
                };
                (
                    Some(LiveView::start(client, cfg, ready.clone()).await?),
                    None,
                )
            }
        };
        wait_until("the view synced", started, || ready.is_ready()).await?;
        let synced_in = started.elapsed();
        // Let the watch settle (the list's last page is processed before ready).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let caches = match (&credspecs, &windows) {
            (Some(v), _) => v.caches(),
            (_, Some(w)) => w.caches(),
            _ => Vec::new(),
        };
        let objects: Vec<String> = caches
            .iter()
            .map(|c| format!("{}={}", c.name(), c.objects()))
            .collect();
        let mut lines = vec![format!(
            "{}={n} cached: {} synced_in={:.2}s {}",
            mode.name(),
            objects.join(" "),
            synced_in.as_secs_f64(),
            memory()?
        )];
        if let Some(view) = &windows {
            // What a review pays to learn the node builds (the OS-build policy asks once).
            use winkube_policy::windows::WindowsClusterView as _;
            let calls = 2_000;
            let started = Instant::now();
            let mut builds = 0;
            for _ in 0..calls {
                builds = view.windows_node_builds().builds.len();
            }
            lines.push(format!(
                "node builds per review: {:.2}µs ({builds} distinct builds, mean of {calls})",
                started.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
            ));
        }
        if let Some(view) = credspecs.filter(|_| mode == Mode::Credspecs) {
            if view.credspec_count() != n {
                return Err(
                    format!("synced {} credspecs, expected {n}", view.credspec_count()).into(),
                );
            }
            // A relist: every watch ends and the history is gone; the view lists again.
            let started = Instant::now();
            relist()?;
            wait_until("the relist", started, || view.credspec_count() == n + 1).await?;
            lines.push(format!(
                "relist of {} credspecs: {:.2}s {}",
                n + 1,
                started.elapsed().as_secs_f64(),
                memory()?
            ));
        }
        Ok(lines)
    })
}

async fn wait_until(
    what: &str,
    started: Instant,
    mut done: impl FnMut() -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    while !done() {
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("{what} did not finish within 300 s").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// `VmHWM`, `VmRSS`, `RssAnon`, `RssFile` of this process, in kB.
fn memory() -> std::io::Result<String> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(status
        .lines()
        .filter(|l| {
            ["VmHWM", "VmRSS", "RssAnon", "RssFile"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .map(|kv| format!("{kv} kB"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The credspec objects of `bench/load.sh`.
fn credspec(i: usize) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "windows.k8s.io/v1", "kind": "GMSACredentialSpec",
        "metadata": {"name": format!("credspec-{i}")},
        "credspec": {
            "CmsPlugins": ["ActiveDirectory"],
            "DomainJoinConfig": {"Sid": format!("S-1-5-21-2126729477-2524075714-{i}"),
                "MachineAccountName": format!("WebApp{i}"),
                "Guid": "244818ae-87ca-4fcd-92ec-e79e5252348a", "DnsTreeName": "contoso.com",
                "DnsName": "contoso.com", "NetBiosName": "CONTOSO"},
            "ActiveDirectoryConfig": {"GroupManagedServiceAccounts": [
                {"Name": format!("WebApp{i}"), "Scope": "CONTOSO"},
                {"Name": format!("WebApp{i}"), "Scope": "contoso.com"}]}
        }
    })
}

/// ClusterRole `gmsa-use-k`: `use` of credspec-k.
fn cluster_role(k: usize) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": format!("gmsa-use-{k}")},
        "rules": [{"apiGroups": ["windows.k8s.io"], "resources": ["gmsacredentialspecs"],
            "verbs": ["use"], "resourceNames": [format!("credspec-{k}")]}]
    })
}

/// RoleBinding i: in namespace `ns-(i/10)`, a service account bound to one of the roles.
fn role_binding(i: usize) -> serde_json::Value {
    let ns = format!("ns-{}", i / 10);
    serde_json::json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": format!("gmsa-{i}"), "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
            "name": format!("gmsa-use-{}", i % 10)},
        "subjects": [{"kind": "ServiceAccount", "name": format!("sa-{i}"), "namespace": ns}]
    })
}

/// A Windows node as a kubelet reports it: labels, taint, conditions, addresses, 20 images.
fn node(i: usize) -> serde_json::Value {
    let images: Vec<serde_json::Value> = (0..20)
        .map(|k| {
            serde_json::json!({
                "names": [format!("registry.example.com/team-{k}/app@sha256:{:064x}", i * 20 + k),
                    format!("registry.example.com/team-{k}/app:v1.{k}")],
                "sizeBytes": 2_500_000_000u64 + k as u64
            })
        })
        .collect();
    let condition = |t: &str, s: &str| {
        serde_json::json!({"type": t, "status": s,
        "lastHeartbeatTime": "2026-12-05T10:00:00Z", "lastTransitionTime": "2026-12-01T10:00:00Z",
        "reason": format!("Kubelet{t}"), "message": format!("kubelet reports {t}={s}")})
    };
    serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("win-{i:05}"), "labels": {
            "kubernetes.io/os": "windows", "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": format!("win-{i:05}"),
            "node.kubernetes.io/windows-build": "10.0.20348",
            "node.kubernetes.io/instance-type": "Standard_D4s_v5",
            "topology.kubernetes.io/zone": format!("westeurope-{}", i % 3 + 1)}},
        "spec": {"taints": [{"key": "os", "value": "windows", "effect": "NoSchedule"}],
            "podCIDR": format!("10.{}.{}.0/24", i / 256, i % 256)},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "30"},
            "allocatable": {"cpu": "3860m", "memory": "13Gi", "pods": "30"},
            "conditions": [condition("MemoryPressure", "False"), condition("DiskPressure", "False"),
                condition("PIDPressure", "False"), condition("Ready", "True")],
            "addresses": [{"type": "InternalIP", "address": format!("10.240.{}.{}", i / 256, i % 256)},
                {"type": "Hostname", "address": format!("win-{i:05}")}],
            "nodeInfo": {"kernelVersion": "10.0.20348.2227", "osImage": "Windows Server 2022 Datacenter",
                "containerRuntimeVersion": "containerd://1.7.20", "kubeletVersion": "v1.31.1",
                "kubeProxyVersion": "v1.31.1", "operatingSystem": "windows", "architecture": "amd64",
                "machineID": "", "systemUUID": "", "bootID": ""},
            "images": images
        }
    })
}
