//! `/metrics` over a real TCP socket after real gRPC calls over Unix sockets:
//! calls by API group/version, method and result, and their latency.
#![cfg(unix)] // the transport under test is the Unix-socket one
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;

use common::*;
use prometheus_client::registry::Registry;
use tonic::Code;
use winkube_csi_proxy::metrics::{CallMetrics, MetricsEndpoint};
use winkube_csi_proxy::transport::{Api, ServeOptions};
use winkube_csi_proxy::wire;

fn api(group: &str, version: &str) -> Api {
    Api {
        group: group.into(),
        version: version.into(),
    }
}

/// The value of the sample line starting with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_by_api_method_and_code_with_their_latency() {
    let mut registry = Registry::default();
    let metrics = CallMetrics::register(&mut registry);
    let s = serve(
        vec![api("disk", "v1"), api("disk", "v1beta3")],
        ServeOptions {
            metrics: Some(metrics),
            ..ServeOptions::default()
        },
    )
    .await;
    let endpoint = MetricsEndpoint::bind("127.0.0.1:0").await.unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(endpoint.serve(Arc::new(registry), async move {
        let _ = stopped.await;
    }));

    let mut v1 = wire::disk::v1::disk_client::DiskClient::new(s.channel("disk", "v1").await);
    for _ in 0..2 {
        let r = v1
            .get_disk_stats(wire::disk::v1::GetDiskStatsRequest { disk_number: 1 })
            .await
            .unwrap();
        assert_eq!(r.into_inner().total_bytes, 10 << 30);
    }
    let e = v1
        .get_disk_stats(wire::disk::v1::GetDiskStatsRequest { disk_number: 99 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unknown);
    let mut beta =
        wire::disk::v1beta3::disk_client::DiskClient::new(s.channel("disk", "v1beta3").await);
    beta.get_disk_stats(wire::disk::v1beta3::GetDiskStatsRequest { disk_number: 1 })
        .await
        .unwrap();
    // A path the endpoint does not serve: counted, but not under its own name.
    let mut raw = RawConn::connect(&s.socket("disk", "v1")).await;
    let r = raw
        .call(
            1,
            &request_block("/v1.Disk/NoSuchMethod-abc", Some(b"localhost"), false),
            &[],
        )
        .await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("12"));
    drop(raw);

    let (status, text) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    let labels = |version: &str| {
        format!(
            r#"grpc_type="unary",grpc_service="{version}.Disk",grpc_method="GetDiskStats",api_group="disk",api_version="{version}""#
        )
    };
    let handled = |version: &str, code: &str| {
        sample(
            &text,
            &format!(
                "grpc_server_handled_total{{{},grpc_code=\"{code}\"}} ",
                labels(version)
            ),
        )
    };
    assert_eq!(handled("v1", "OK"), Some(2.0), "{text}");
    assert_eq!(handled("v1", "Unknown"), Some(1.0), "{text}");
    assert_eq!(handled("v1beta3", "OK"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            &format!("grpc_server_started_total{{{}}} ", labels("v1"))
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("grpc_server_handling_seconds_count{{{}}} ", labels("v1"))
        ),
        Some(3.0)
    );
    // Upstream's buckets; a fake-host call finishes well within 120 s.
    assert_eq!(
        sample(
            &text,
            &format!(
                "grpc_server_handling_seconds_bucket{{le=\"120.0\",{}}} ",
                labels("v1")
            )
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"grpc_server_handled_total{grpc_type="unary",grpc_service="unknown",grpc_method="unknown",api_group="disk",api_version="v1",grpc_code="Unimplemented"} "#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("NoSuchMethod"),
        "client paths never become labels"
    );

    let (status, _) = http_get(addr, "/other").await;
    assert_eq!(status, 404);
    let _ = stop.send(());
    server.await.unwrap();
    s.stop().await;
}
