//! Shared test helpers: node facts, binaries with their checksums, a local HTTP server
//! standing in for the release site, and a stand-in for the Windows service manager and
//! firewall (the file steps run for real under a temporary root).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use winkube_api::windows::WindowsBuild;
use winkube_node::Error;
use winkube_node::apply::System;
use winkube_node::facts::NodeFacts;
use winkube_node::plan::{Artifact, FirewallRule, ServiceDefinition};

/// A fresh Windows Server 2022 node with containerd running.
pub fn fresh_node() -> NodeFacts {
    NodeFacts {
        windows_build: Some(WindowsBuild::ten(20348)),
        containers_feature: true,
        containerd_pipe: true,
        reboot_pending: false,
        ..NodeFacts::default()
    }
}

/// Stand-in binaries: fixed content, so their checksums (and the golden plans) are stable.
pub fn binary(name: &str) -> Vec<u8> {
    format!("MZ fake {name} for the tests\n").into_bytes()
}

pub fn sha(bytes: &[u8]) -> String {
    winkube_node::sha256_hex(bytes)
}

/// The three artifacts, as if verified from a directory `D:\bin`.
pub fn artifacts() -> Vec<Artifact> {
    ["kubelet.exe", "kubeadm.exe", "winkube-node.exe"]
        .iter()
        .map(|n| Artifact {
            name: n.to_string(),
            sha256: sha(&binary(n)),
            source: format!(r"D:\bin\{n}"),
        })
        .collect()
}

/// Writes the binaries and their `.sha256` files into `dir`.
pub fn binaries_dir(dir: &Path) {
    for n in ["kubelet.exe", "kubeadm.exe"] {
        let b = binary(n);
        std::fs::write(dir.join(n), &b).unwrap();
        std::fs::write(
            dir.join(format!("{n}.sha256")),
            format!("{}  {n}\n", sha(&b)),
        )
        .unwrap();
    }
}

/// Compares `actual` with the file under tests/golden (UPDATE_GOLDEN=1 rewrites it).
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        want,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}

/// What the stand-in service manager and firewall hold.
#[derive(Debug, Default)]
pub struct SystemState {
    pub services: BTreeMap<String, ServiceDefinition>,
    pub rules: Vec<String>,
    pub calls: Vec<String>,
}

/// The Windows-only steps, recorded; `fail_service` makes service registration fail.
#[derive(Default)]
pub struct TestSystem {
    pub state: SystemState,
    pub fail_service: bool,
}

impl System for TestSystem {
    fn install_service(&mut self, def: &ServiceDefinition, existing: bool) -> Result<(), Error> {
        self.state
            .calls
            .push(format!("install_service {} existing={existing}", def.name));
        if self.fail_service {
            return Err(Error::System("service kubelet: access denied".into()));
        }
        self.state.services.insert(def.name.clone(), def.clone());
        Ok(())
    }
    fn remove_service(&mut self, name: &str) -> Result<(), Error> {
        self.state.calls.push(format!("remove_service {name}"));
        self.state.services.remove(name);
        Ok(())
    }
    fn add_firewall_rule(&mut self, rule: &FirewallRule) -> Result<(), Error> {
        self.state
            .calls
            .push(format!("add_firewall_rule {}", rule.name));
        self.state.rules.push(rule.name.clone());
        Ok(())
    }
    fn remove_firewall_rule(&mut self, rule: &FirewallRule) -> Result<(), Error> {
        self.state
            .calls
            .push(format!("remove_firewall_rule {}", rule.name));
        self.state.rules.retain(|r| r != &rule.name);
        Ok(())
    }
}

/// A canned answer: status, headers, body.
type Route = (u16, Vec<(String, String)>, Vec<u8>);

/// A local HTTP server: path → answer. Counts requests per path.
#[derive(Clone, Default)]
pub struct Site {
    pub routes: Arc<Mutex<BTreeMap<String, Route>>>,
    pub hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Site {
    pub fn put(&self, path: &str, body: &[u8]) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.into(), (200, vec![], body.to_vec()));
    }
    pub fn redirect(&self, path: &str, to: &str) {
        self.routes.lock().unwrap().insert(
            path.into(),
            (302, vec![("location".into(), to.into())], vec![]),
        );
    }
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Serves on 127.0.0.1 until the runtime ends; returns the base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let site = self.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let site = site.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let site = site.clone();
                            async move {
                                let path = req.uri().path().to_owned();
                                *site.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                                let route = site.routes.lock().unwrap().get(&path).cloned();
                                let (status, headers, body) =
                                    route.unwrap_or((404, vec![], b"not found".to_vec()));
                                let mut resp = Response::builder()
                                    .status(StatusCode::from_u16(status).unwrap());
                                for (k, v) in headers {
                                    resp = resp.header(k, v);
                                }
                                Ok::<_, Infallible>(
                                    resp.body(Full::new(Bytes::from(body))).unwrap(),
                                )
                            }
                        });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
            }
        });
        format!("http://{addr}/release")
    }
}
