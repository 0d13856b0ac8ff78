//! The kubelet's hot path, as far as it runs on Linux: `GetVolumeStats` in the
//! core over the fake host, the same call over gRPC on a Unix socket (tonic,
//! the `:authority` filter and the adapters: the proxy's own overhead, which
//! the Windows backend adds one Win32 call to), a guarded `Mkdir` (path
//! resolution through the host), and link resolution of a 12-component path.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use winkube_csi_proxy::core::filesystem::{FilesystemServer, PathRequest};
use winkube_csi_proxy::core::volume::VolumeServer;
use winkube_csi_proxy::core::{Node, Policy};
use winkube_csi_proxy::host::fake::FakeHost;
use winkube_csi_proxy::host::{LinkTarget, follow_links};
use winkube_csi_proxy::validate::{AllowedRoots, parse_drive_path};

const DATA_VOL: &str = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\";

fn node() -> Node {
    Node {
        host: Arc::new(FakeHost::seeded()),
        policy: Arc::new(Policy::new(
            AllowedRoots::new([r"C:\var\lib\kubelet"]).unwrap(),
        )),
    }
}

fn core_calls(c: &mut Criterion) {
    let volumes = VolumeServer::new(node());
    c.bench_function("core GetVolumeStats (fake host)", |b| {
        b.iter(|| volumes.get_volume_stats(black_box(DATA_VOL)).unwrap())
    });
    let fs = FilesystemServer::new(node());
    let req = PathRequest {
        path: r"C:\var\lib\kubelet\pods\p1\volumes\kubernetes.io~csi\pvc-1\mount".into(),
        ..Default::default()
    };
    c.bench_function("core Mkdir, guarded (fake host)", |b| {
        b.iter(|| fs.mkdir(black_box(req.clone())).unwrap())
    });
    let path = parse_drive_path(
        "p",
        r"C:\var\lib\kubelet\pods\p1\volumes\kubernetes.io~csi\pvc-1\mount\a\b\c\d",
    )
    .unwrap();
    let link = parse_drive_path("p", r"C:\var\lib\kubelet\pods\p1").unwrap();
    let target = parse_drive_path("p", r"D:\pods\p1").unwrap();
    c.bench_function("follow_links, 12 components, 1 link", |b| {
        b.iter(|| {
            follow_links(black_box(&path), true, |q| {
                Ok((q.key() == link.key()).then(|| LinkTarget::Path(target.clone())))
            })
            .unwrap()
        })
    });
}

#[cfg(unix)]
fn grpc_call(c: &mut Criterion) {
    use hyper_util::rt::TokioIo;
    use tonic::transport::{Endpoint, Uri};
    use winkube_csi_proxy::transport::{self, Api, ServeOptions};
    use winkube_csi_proxy::wire::volume::v1 as pb;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let api = Api {
        group: "volume".into(),
        version: "v1".into(),
    };
    let sock = api.socket_path(dir.path());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(transport::serve_all(
        vec![api],
        node(),
        ServeOptions::default(),
        Some(dir.path().to_path_buf()),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut client = rt.block_on(async {
        for _ in 0..500 {
            if sock.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let sock = sock.clone();
        let channel = Endpoint::try_from("http://localhost")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let sock = sock.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(sock).await?,
                    ))
                }
            }))
            .await
            .unwrap();
        pb::volume_client::VolumeClient::new(channel)
    });
    c.bench_function("gRPC GetVolumeStats over a Unix socket (fake host)", |b| {
        b.iter(|| {
            rt.block_on(client.get_volume_stats(pb::GetVolumeStatsRequest {
                volume_id: DATA_VOL.into(),
            }))
            .unwrap()
        })
    });
    let _ = stop.send(());
    let _ = rt.block_on(server);
}

#[cfg(unix)]
criterion_group!(benches, core_calls, grpc_call);
#[cfg(not(unix))]
criterion_group!(benches, core_calls);
criterion_main!(benches);
