//! Memory of the live view: peak and current resident size of a process whose `LiveView` has
//! synced N credspecs from the testkit API-server stand-in. The stand-in runs in a child
//! process (this same binary, `--api N`) so that its own store is not counted.
//!
//! Usage: `live_rss [N]` (default 10000). Prints one line: `credspecs=N VmHWM=.. kB ...`.
//! `bench/load.sh` runs it after the load cases.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use winkube_webhook::{LiveView, LiveViewConfig, Readiness};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--api") => api(args.get(2).map_or(Ok(10_000), |n| n.parse())?),
        n => view(n.map_or(Ok(10_000), str::parse)?),
    }
}

/// Child: the stand-in with `n` credspecs; prints its URL, token and CA, then serves until
/// its standard input closes.
fn api(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let api = winkube_testkit::ApiServer::start().await?;
        for i in 0..n {
            api.create(credspec(i))?;
        }
        let ca = base64::engine::general_purpose::STANDARD.encode(api.ca().cert_der());
        println!("{}\n{}\n{ca}", api.url(), api.token());
        std::io::stdout().flush()?;
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
        Ok(())
    })
}

/// Parent: a LiveView over the child's stand-in, measured once synced.
fn view(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--api", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || -> Result<String, Box<dyn std::error::Error>> {
        Ok(lines.next().ok_or("the stand-in exited early")??)
    };
    let (url, token, ca) = (next()?, next()?, next()?);
    let result = measure(n, &url, &token, &ca);
    drop(child.stdin.take());
    let _ = child.wait();
    let line = result?;
    println!("{line}");
    Ok(())
}

fn measure(
    n: usize,
    url: &str,
    token: &str,
    ca: &str,
) -> Result<String, Box<dyn std::error::Error>> {
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
        let view = LiveView::start(client, LiveViewConfig::default(), ready.clone()).await?;
        let started = Instant::now();
        while !ready.is_ready() {
            if started.elapsed() > Duration::from_secs(120) {
                return Err("the live view did not sync within 120 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let synced_in = started.elapsed();
        // Let the watch settle (the list's last page is processed before ready).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let count = view.credspec_count();
        if count != n {
            return Err(format!("synced {count} credspecs, expected {n}").into());
        }
        Ok(format!(
            "credspecs={count} synced_in={:.2}s {}",
            synced_in.as_secs_f64(),
            memory()?
        ))
    })
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
