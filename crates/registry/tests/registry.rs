//! The registry client against a real registry: Debian's `docker-registry` (CNCF
//! distribution), started on loopback per test with storage in a temporary directory. The
//! tests push their own blobs, manifests and indexes over plain HTTP.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use winkube_api::windows::{ImageReference, WindowsBuild};
use winkube_registry::{
    ClientOptions, Credentials, DockerConfig, Error, ManualClock, RegistryClient, Resolver,
    ResolverOptions,
};
use winkube_testkit::TestRegistry;

/// The multi-build index of the issue: Windows 17763 and 20348, Linux amd64.
const MULTI_BUILD: [(&str, Option<&str>); 3] = [
    ("windows", Some("10.0.17763.5458")),
    ("windows", Some("10.0.20348.2227")),
    ("linux", None),
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

type TestClient = Client<HttpConnector, Full<Bytes>>;

fn http_client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn client(timeout: Duration) -> RegistryClient {
    RegistryClient::new(ClientOptions {
        timeout,
        system_roots: false,
        ..Default::default()
    })
    .unwrap()
}

fn builds(p: &winkube_registry::ImagePlatforms) -> BTreeSet<WindowsBuild> {
    p.platforms
        .iter()
        .filter_map(|x| x.windows_build())
        .collect()
}

#[tokio::test]
async fn resolves_multi_build_indexes_oci_and_docker() {
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    let c = client(Duration::from_secs(10));
    for (docker, tag) in [(false, "multi-oci"), (true, "multi-docker")] {
        let index_digest = reg
            .push_index("winkube/app", tag, &MULTI_BUILD, docker)
            .await;
        let r = ImageReference::parse(&format!("{}/winkube/app:{tag}", reg.host())).unwrap();
        let p = c.resolve(&r, None).await.unwrap();
        assert_eq!(p.digest.as_deref(), Some(index_digest.as_str()), "{tag}");
        assert_eq!(p.platforms.len(), 3, "{tag}: {p:?}");
        assert_eq!(
            builds(&p),
            BTreeSet::from([WindowsBuild::ten(17763), WindowsBuild::ten(20348)]),
            "{tag}"
        );
        assert_eq!(p.oses(), ["linux", "windows"]);
        assert_eq!(
            p.platforms[0].os_version.as_deref(),
            Some("10.0.17763.5458")
        );
        // The same index by digest, verified against its content.
        let by_digest =
            ImageReference::parse(&format!("{}/winkube/app@{index_digest}", reg.host())).unwrap();
        assert_eq!(
            c.resolve(&by_digest, None).await.unwrap().platforms,
            p.platforms
        );
    }
}

#[tokio::test]
async fn resolves_single_manifests_through_the_config_blob() {
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    let c = client(Duration::from_secs(10));
    reg.push_image(
        "win/servercore",
        "windows",
        Some("10.0.17763.5458"),
        Some("ltsc2019"),
        false,
    )
    .await;
    reg.push_image(
        "win/servercore",
        "windows",
        Some("10.0.26100.3194"),
        Some("ltsc2025"),
        true,
    )
    .await;
    reg.push_image("lin/nginx", "linux", None, Some("1.25"), false)
        .await;
    let cases = [
        (
            "win/servercore:ltsc2019",
            "windows",
            Some(WindowsBuild::ten(17763)),
        ),
        (
            "win/servercore:ltsc2025",
            "windows",
            Some(WindowsBuild::ten(26100)),
        ),
        ("lin/nginx:1.25", "linux", None),
    ];
    for (image, os, build) in cases {
        let r = ImageReference::parse(&format!("{}/{image}", reg.host())).unwrap();
        let p = c.resolve(&r, None).await.unwrap();
        assert_eq!(p.platforms.len(), 1, "{image}");
        assert_eq!(p.platforms[0].os, os, "{image}");
        assert_eq!(p.platforms[0].architecture, "amd64");
        assert_eq!(p.platforms[0].windows_build(), build, "{image}");
    }
}

#[tokio::test]
async fn an_images_run_time_config_is_read_from_its_config_blob() {
    let Some(reg) = TestRegistry::start("the image config test").await else {
        return;
    };
    let cfg = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"User": "65532:65532", "Entrypoint": ["/winkube", "webhook"],
                   "Env": ["LOG_LEVEL=info"]}}))
    .unwrap();
    let (cfg_digest, cfg_size) = reg.push_blob("winkube/winkube", &cfg).await;
    let (layer, layer_size) = reg.push_blob("winkube/winkube", b"the binary").await;
    let manifest = json!({"schemaVersion": 2, "mediaType": winkube_testkit::registry::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": layer_size}]});
    let (digest, _) = reg
        .push_manifest(
            "winkube/winkube",
            "v0.1.0",
            winkube_testkit::registry::OCI_MANIFEST,
            &manifest,
        )
        .await;
    let c = client(Duration::from_secs(10));
    let r = ImageReference::parse(&format!("{}/winkube/winkube:v0.1.0", reg.host())).unwrap();
    let got = c.config(&r, None).await.unwrap();
    assert_eq!(got.digest, digest);
    assert_eq!(got.user, "65532:65532");
    assert_eq!(got.entrypoint, ["/winkube", "webhook"]);
    assert!(got.cmd.is_empty());
    assert_eq!(got.env, ["LOG_LEVEL=info"]);
    assert_eq!(
        (got.platform.os.as_str(), got.platform.architecture.as_str()),
        ("linux", "amd64")
    );

    reg.push_index("multi", "latest", &MULTI_BUILD, false).await;
    let r = ImageReference::parse(&format!("{}/multi:latest", reg.host())).unwrap();
    let e = c.config(&r, None).await.unwrap_err();
    assert!(
        e.to_string().contains("an index of several platforms"),
        "{e}"
    );
}

#[tokio::test]
async fn missing_images_and_wrong_digests_are_clear_errors() {
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    let c = client(Duration::from_secs(10));
    let (digest, _) = reg
        .push_image(
            "win/app",
            "windows",
            Some("10.0.20348.1"),
            Some("v1"),
            false,
        )
        .await;
    let missing_tag = ImageReference::parse(&format!("{}/win/app:v2", reg.host())).unwrap();
    let e = c.resolve(&missing_tag, None).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert!(
        e.to_string().contains("manifest win/app:v2 not found"),
        "{e}"
    );
    let missing_repo = ImageReference::parse(&format!("{}/nobody/here:v1", reg.host())).unwrap();
    assert!(matches!(
        c.resolve(&missing_repo, None).await,
        Err(Error::NotFound { .. })
    ));
    let other = format!("sha256:{}", "0".repeat(64));
    let wrong = ImageReference::parse(&format!("{}/win/app@{other}", reg.host())).unwrap();
    assert!(matches!(
        c.resolve(&wrong, None).await,
        Err(Error::NotFound { .. })
    ));
    let right = ImageReference::parse(&format!("{}/win/app:v1@{digest}", reg.host())).unwrap();
    assert_eq!(
        c.resolve(&right, None).await.unwrap().digest.as_deref(),
        Some(digest.as_str())
    );
}

#[tokio::test]
async fn unreachable_registry_returns_an_error_within_the_timeout() {
    let port = free_port(); // bound then released: nothing listens there
    let c = client(Duration::from_secs(2));
    let r = ImageReference::parse(&format!("127.0.0.1:{port}/x/y:1")).unwrap();
    // The outer bound only guards against a hang; the client must answer by itself.
    let res = tokio::time::timeout(Duration::from_secs(30), c.resolve(&r, None))
        .await
        .expect("the client hung past its own timeout");
    match res {
        Err(Error::Connect { registry, reason }) => {
            assert_eq!(registry, format!("127.0.0.1:{port}"));
            assert!(!reason.is_empty());
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn silent_registry_hits_the_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            conns.push(s);
        }
    });
    let c = client(Duration::from_millis(300));
    let r = ImageReference::parse(&format!("{addr}/x/y:1")).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(30), c.resolve(&r, None))
        .await
        .expect("the client hung past its own timeout");
    assert!(matches!(res, Err(Error::Timeout { .. })), "{res:?}");
    hold.abort();
}

#[tokio::test]
async fn resolver_caches_with_a_ttl_and_fails_after_expiry() {
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    reg.push_image(
        "win/app",
        "windows",
        Some("10.0.17763.1"),
        Some("ltsc2019"),
        false,
    )
    .await;
    let clock = Arc::new(ManualClock::default());
    let resolver = Resolver::new(
        ResolverOptions {
            client: ClientOptions {
                timeout: Duration::from_secs(5),
                system_roots: false,
                ..Default::default()
            },
            capacity: 8,
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
        },
        clock.clone(),
    )
    .unwrap();
    let image = format!("{}/win/app:ltsc2019", reg.host());
    let none = DockerConfig::default();
    let first = resolver.resolve(&image, &none).await.unwrap();
    drop(reg); // the registry is gone
    let cached = resolver.resolve(&image, &none).await.unwrap();
    assert_eq!(first, cached);
    assert_eq!(resolver.cached_entries(), 1);
    clock.advance(Duration::from_secs(61));
    let after = resolver.resolve(&image, &none).await;
    assert!(matches!(after, Err(Error::Connect { .. })), "{after:?}");
    // The failure is cached briefly, then retried.
    let all = resolver
        .resolve_all(&[image.clone(), "Bad Ref".into()], &none)
        .await;
    assert!(matches!(all[&image], Err(Error::Connect { .. })));
    assert!(matches!(all["Bad Ref"], Err(Error::Reference(_))));
}

#[tokio::test]
async fn policy_end_to_end_pins_the_build_the_registry_reports() {
    use winkube_policy::windows::{
        ImageLookup, ImageResolutions, Phase, StaticWindowsView, WindowsPolicyConfig, evaluate,
        images_to_resolve,
    };
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    reg.push_image(
        "win/web",
        "windows",
        Some("10.0.17763.5458"),
        Some("1.0-ltsc2019"),
        false,
    )
    .await;
    let image = format!("{}/win/web:1.0-ltsc2019", reg.host());
    let pod = json!({"spec": {"containers": [{"name": "web", "image": image,
        "resources": {"limits": {"memory": "1Gi"}}}]}});
    let config = WindowsPolicyConfig::default();
    let requests = images_to_resolve(&pod, "apps", &config);
    assert_eq!(requests.len(), 1);
    let resolver = Resolver::new(
        ResolverOptions::default(),
        Arc::new(winkube_registry::SystemClock),
    )
    .unwrap();
    let images: Vec<String> = requests.iter().map(|r| r.image.clone()).collect();
    let resolved: ImageResolutions = resolver
        .resolve_all(&images, &DockerConfig::default())
        .await
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.map_or_else(
                    |e| ImageLookup::Unavailable(e.to_string()),
                    ImageLookup::Found,
                ),
            )
        })
        .collect();
    let view = StaticWindowsView::new([WindowsBuild::ten(17763), WindowsBuild::ten(20348)]);
    let d = evaluate(&pod, "apps", &config, &view, &resolved, Phase::Mutate);
    assert!(d.allowed, "{}", d.message);
    let mut out = pod.clone();
    json_patch::patch(&mut out, &d.patch).unwrap();
    assert_eq!(out["spec"]["nodeSelector"]["kubernetes.io/os"], "windows");
    assert_eq!(
        out["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"],
        "10.0.17763"
    );
    assert_eq!(out["spec"]["tolerations"][0]["key"], "os");
}

// --- token auth: a token service in front of the real registry ---------------------------

/// A loopback front that speaks the distribution token flow: `/token` checks Basic
/// credentials and issues a token; `/v2/...` demands that token (401 + `WWW-Authenticate:
/// Bearer ...` otherwise) and forwards to the real registry.
async fn token_front(upstream: String, user: &'static str, pass: &'static str) -> String {
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let realm = format!("http://{addr}/token");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let realm = realm.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let upstream = upstream.clone();
                    let realm = realm.clone();
                    async move {
                        let auth = req
                            .headers()
                            .get(header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let path = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default();
                        let reply = |status: StatusCode, body: &str| {
                            let mut r =
                                hyper::Response::new(Full::new(Bytes::from(body.to_owned())));
                            *r.status_mut() = status;
                            r
                        };
                        if path.starts_with("/token") {
                            let good = Credentials {
                                username: user.into(),
                                password: pass.into(),
                            }
                            .basic_header();
                            let ok = auth == good
                                && path.contains("scope=repository%3Apriv%2Fapp%3Apull");
                            return Ok::<_, std::convert::Infallible>(if ok {
                                reply(StatusCode::OK, r#"{"token": "t0k3n"}"#)
                            } else {
                                reply(StatusCode::UNAUTHORIZED, "bad credentials")
                            });
                        }
                        if auth != "Bearer t0k3n" {
                            let mut r = reply(StatusCode::UNAUTHORIZED, "");
                            r.headers_mut().insert(
                                header::WWW_AUTHENTICATE,
                                format!(r#"Bearer realm="{realm}",service="test-registry""#)
                                    .parse()
                                    .unwrap(),
                            );
                            return Ok(r);
                        }
                        let mut fwd = Request::get(format!("http://{upstream}{path}"));
                        if let Some(a) = req.headers().get(header::ACCEPT) {
                            fwd = fwd.header(header::ACCEPT, a);
                        }
                        let resp = http_client()
                            .request(fwd.body(Full::new(Bytes::new())).unwrap())
                            .await
                            .unwrap();
                        let (parts, body) = resp.into_parts();
                        let bytes = body.collect().await.unwrap().to_bytes();
                        Ok(hyper::Response::from_parts(parts, Full::new(bytes)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr.to_string()
}

#[tokio::test]
async fn bearer_token_flow_with_pull_secret_credentials() {
    let Some(reg) = TestRegistry::start("the registry test").await else {
        return;
    };
    reg.push_image(
        "priv/app",
        "windows",
        Some("10.0.20348.1"),
        Some("v1"),
        false,
    )
    .await;
    let front = token_front(reg.host().to_owned(), "robot", "s3cret").await;
    let c = client(Duration::from_secs(10));
    let r = ImageReference::parse(&format!("{front}/priv/app:v1")).unwrap();
    // Without credentials the token service refuses.
    let e = c.resolve(&r, None).await.unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    // With the pull secret's credentials, the token is fetched and used for manifest and blob.
    let secret =
        format!(r#"{{"auths": {{"{front}": {{"username": "robot", "password": "s3cret"}}}}}}"#);
    let cfg = DockerConfig::from_json(secret.as_bytes()).unwrap();
    let creds = cfg.credentials_for(&r.registry).cloned();
    let p = c.resolve(&r, creds.as_ref()).await.unwrap();
    assert_eq!(
        p.platforms[0].windows_build(),
        Some(WindowsBuild::ten(20348))
    );
    // Wrong password: a clear refusal naming the pull secret.
    let bad = Credentials {
        username: "robot".into(),
        password: "nope".into(),
    };
    let e = c.resolve(&r, Some(&bad)).await.unwrap_err();
    assert!(e.to_string().contains("refused access to priv/app"), "{e}");
}
