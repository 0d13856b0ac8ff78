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
