//! Issue 13: the transport's limits, over real sockets.
#![allow(clippy::unwrap_used)] // tests may unwrap
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use winkube_csi_proxy::transport::authority::MAX_HEADER_LIST_SIZE;
use winkube_csi_proxy::transport::{Api, ServeOptions};
use winkube_csi_proxy::wire;

fn disk_v1() -> Vec<Api> {
    vec![Api {
        group: "disk".into(),
        version: "v1".into(),
    }]
}

/// Default options, with a short grace on stop (the raw connections stay open).
fn quick_stop() -> ServeOptions {
    ServeOptions {
        shutdown_grace: Duration::from_millis(200),
        ..ServeOptions::default()
    }
}

/// Peak resident set of this process, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A request block whose first field puts a 4,000-byte header into the
/// client's dynamic table and then references it `refs` times (1 byte each).
fn amplified_block(refs: usize) -> Vec<u8> {
    let mut b = request_block("/v1.Disk/GetDiskStats", None, false);
    b.push(0x40); // literal with incremental indexing, new name
    b.extend(loona_hpack::encoder::encode_integer(1, 7));
    b.push(b'x');
    b.extend(loona_hpack::encoder::encode_integer(4000, 7));
    b.extend(std::iter::repeat_n(b'a', 4000));
    b.extend(std::iter::repeat_n(0xBE, refs)); // indexed field 62: the entry above
    b
}

/// Sends `block` as HEADERS + CONTINUATION frames of at most 16 KiB.
async fn send_block(io: &mut tokio::net::UnixStream, stream: u32, block: &[u8]) {
    let chunks: Vec<&[u8]> = block.chunks(16_384).collect();
    for (i, c) in chunks.iter().enumerate() {
        let kind = if i == 0 { 0x1 } else { 0x9 };
        let flags = if i + 1 == chunks.len() { 0x4 } else { 0 };
        io.write_all(&frame(kind, flags, stream, c)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_block_that_decodes_past_the_list_limit_is_refused_without_the_memory() {
    let s = serve(disk_v1(), quick_stop()).await;
    let msg = wire::disk::v1::GetDiskStatsRequest { disk_number: 1 }.encode_to_vec();

    // Under the limit: 2 references (12 KB decoded) are an ordinary call.
    let mut ok = RawConn::connect(&s.socket("disk", "v1")).await;
    let block = amplified_block(2);
    send_block(&mut ok.io, 1, &block).await;
    ok.io
        .write_all(&frame(0x0, 0x1, 1, &grpc_body(&msg)))
        .await
        .unwrap();
    let r = ok.read_until_end(1).await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("0"));

    // 60,000 references: 60 KB on the wire, ~242 MB decoded.
    let before = peak_rss_kib();
    let mut raw = RawConn::connect(&s.socket("disk", "v1")).await;
    let block = amplified_block(60_000);
    assert!(block.len() < 65_536);
    let t0 = std::time::Instant::now();
    send_block(&mut raw.io, 1, &block).await;
    // The connection is closed: EOF (after any GOAWAY), never a response.
    let mut buf = vec![0u8; 65_536];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match raw.io.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed, "connection stayed open");
    eprintln!("closed after {:?}", t0.elapsed());
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!(
        "peak RSS grew by {grown_mib} MiB for a block decoding to {} MB (limit {MAX_HEADER_LIST_SIZE} B)",
        60_000 * 4033 / 1_000_000
    );
    assert!(grown_mib < 32, "peak RSS grew by {grown_mib} MiB");

    // The endpoint still serves.
    let mut again = RawConn::connect(&s.socket("disk", "v1")).await;
    let r = again
        .call(
            1,
            &request_block("/v1.Disk/GetDiskStats", None, false),
            &msg,
        )
        .await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("0"));
    s.stop().await;
}

/// Opens a raw connection and returns the server's first SETTINGS parameters.
async fn server_settings(path: &std::path::Path) -> (tokio::net::UnixStream, Vec<(u16, u32)>) {
    let mut io = tokio::net::UnixStream::connect(path).await.unwrap();
    io.write_all(winkube_csi_proxy::transport::authority::PREFACE)
        .await
        .unwrap();
    io.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut head))
        .await
        .expect("no SETTINGS from the server")
        .unwrap();
    assert_eq!(head[3], 0x4, "first frame is SETTINGS");
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload).await.unwrap();
    let params = payload
        .chunks(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    (io, params)
}

async fn closed_within(io: &mut tokio::net::UnixStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_header_lists_are_bounded_in_settings() {
    let opts = ServeOptions {
        max_concurrent_streams: 7,
        ..quick_stop()
    };
    let s = serve(disk_v1(), opts).await;
    let (_io, params) = server_settings(&s.socket("disk", "v1")).await;
    // 0x3 SETTINGS_MAX_CONCURRENT_STREAMS, 0x6 SETTINGS_MAX_HEADER_LIST_SIZE.
    assert!(params.contains(&(0x3, 7)), "{params:?}");
    assert!(
        params.contains(&(0x6, MAX_HEADER_LIST_SIZE as u32)),
        "{params:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_cap_are_refused_and_cost_nothing() {
    let s = serve(disk_v1(), quick_stop()).await;
    let mut raw = RawConn::connect(&s.socket("disk", "v1")).await;
    let before = peak_rss_kib();
    // 10,000 request HEADERS that never send a body: each would be a pending call.
    let block = request_block("/v1.Disk/GetDiskStats", None, false);
    let mut burst = Vec::new();
    for i in 0..10_000u32 {
        burst.extend(frame(0x1, 0x4, 2 * i + 1, &block));
    }
    raw.io.write_all(&burst).await.unwrap();
    // Count the refusals (RST_STREAM REFUSED_STREAM = 7) the server sends back.
    let mut refused = 0;
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 65_536];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = match raw.io.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&tmp[..n]);
            while buf.len() >= 9 {
                let len =
                    (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
                if buf.len() < 9 + len {
                    break;
                }
                if buf[3] == 0x3 && buf[9..13] == [0, 0, 0, 7] {
                    refused += 1;
                }
                buf.drain(..9 + len);
            }
            if refused >= 10_000 - 64 {
                return;
            }
        }
    })
    .await;
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    eprintln!("10,000 pending streams: {refused} refused, peak RSS +{grown_mib} MiB");
    assert!(refused >= 10_000 - 64, "only {refused} streams refused");
    assert!(grown_mib < 32, "peak RSS grew by {grown_mib} MiB");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_idle_after_its_preface_is_closed_and_a_busy_one_is_not() {
    let opts = ServeOptions {
        idle_timeout: Duration::from_millis(400),
        ..quick_stop()
    };
    let s = serve(disk_v1(), opts).await;
    // The preface alone used to disarm every timer.
    let (mut idle, _) = server_settings(&s.socket("disk", "v1")).await;
    // A connection that keeps calling stays open past the idle timeout.
    let msg = wire::disk::v1::GetDiskStatsRequest { disk_number: 1 }.encode_to_vec();
    let mut busy = RawConn::connect(&s.socket("disk", "v1")).await;
    for i in 0..8u32 {
        let r = busy
            .call(
                2 * i + 1,
                &request_block("/v1.Disk/GetDiskStats", None, false),
                &msg,
            )
            .await;
        assert_eq!(r.header("grpc-status").as_deref(), Some("0"), "call {i}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "idle connection stayed open"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_free_slot() {
    let opts = ServeOptions {
        max_connections: 2,
        ..quick_stop()
    };
    let s = serve(disk_v1(), opts).await;
    let path = s.socket("disk", "v1");
    let (a, _) = server_settings(&path).await;
    let (_b, _) = server_settings(&path).await;
    // The third is queued: the server does not speak to it yet.
    let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
    c.write_all(winkube_csi_proxy::transport::authority::PREFACE)
        .await
        .unwrap();
    c.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
    let mut head = [0u8; 9];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c.read_exact(&mut head))
            .await
            .is_err(),
        "a third connection was served"
    );
    drop(a);
    tokio::time::timeout(Duration::from_secs(5), c.read_exact(&mut head))
        .await
        .expect("the queued connection was not served after a slot freed")
        .unwrap();
    assert_eq!(head[3], 0x4);
    s.stop().await;
}
