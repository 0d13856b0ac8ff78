//! Shared test helpers: a served node over Unix sockets, tonic channels, and a
//! minimal raw HTTP/2 client that can send the `:authority` grpc-go sends.
#![allow(dead_code, clippy::unwrap_used)] // shared by several test crates; tests may unwrap

use std::sync::Arc;
use winkube_csi_proxy::core::{Node, Policy};
use winkube_csi_proxy::host::fake::FakeHost;
use winkube_csi_proxy::validate::{AllowedRoots, ServiceName};

pub const KUBELET: &str = r"C:\var\lib\kubelet";

pub fn node_with(host: Arc<FakeHost>) -> Node {
    Node {
        host,
        policy: Arc::new(Policy {
            allowed_services: vec![ServiceName::parse("s", "MSiSCSI").unwrap()],
            ..Policy::new(AllowedRoots::new([KUBELET]).unwrap())
        }),
    }
}

/// `node_with` under a policy changed by `f`.
pub fn node_with_policy(host: Arc<FakeHost>, f: impl FnOnce(&mut Policy)) -> Node {
    let mut policy = Policy {
        allowed_services: vec![ServiceName::parse("s", "MSiSCSI").unwrap()],
        ..Policy::new(AllowedRoots::new([KUBELET]).unwrap())
    };
    f(&mut policy);
    Node {
        host,
        policy: Arc::new(policy),
    }
}

/// `GET path` over plain HTTP/1.1 on a real TCP socket: (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// Sockets, channels and the raw HTTP/2 client (Unix only: the transport under test).
#[cfg(unix)]
mod unix_only {
    use super::*;
    use hyper_util::rt::TokioIo;
    use std::path::{Path, PathBuf};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;
    use tokio::sync::oneshot;
    use tonic::transport::{Channel, Endpoint, Uri};
    use winkube_csi_proxy::transport::{self, Api, ServeOptions};

    pub struct Served {
        pub dir: tempfile::TempDir,
        pub host: Arc<FakeHost>,
        stop: Option<oneshot::Sender<()>>,
        task: Option<tokio::task::JoinHandle<Result<(), transport::TransportError>>>,
    }

    impl Served {
        pub fn socket(&self, group: &str, version: &str) -> PathBuf {
            Api {
                group: group.into(),
                version: version.into(),
            }
            .socket_path(self.dir.path())
        }

        pub async fn channel(&self, group: &str, version: &str) -> Channel {
            channel(&self.socket(group, version)).await
        }

        pub async fn stop(mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
            if let Some(t) = self.task.take() {
                t.await.unwrap().unwrap();
            }
        }
    }

    /// Serves `apis` (all when empty) over Unix sockets in a temp dir.
    pub async fn serve(apis: Vec<Api>, opts: ServeOptions) -> Served {
        let host = Arc::new(FakeHost::seeded());
        let dir = tempfile::tempdir().unwrap();
        let apis = if apis.is_empty() {
            transport::all_apis()
        } else {
            apis
        };
        let expected: Vec<PathBuf> = apis.iter().map(|a| a.socket_path(dir.path())).collect();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(transport::serve_all(
            apis,
            node_with(host.clone()),
            opts,
            Some(dir.path().to_path_buf()),
            async move {
                let _ = rx.await;
            },
        ));
        for _ in 0..500 {
            if expected.iter().all(|p| p.exists()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(expected.iter().all(|p| p.exists()), "sockets not created");
        Served {
            dir,
            host,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn channel(path: &Path) -> Channel {
        let path = path.to_path_buf();
        Endpoint::try_from("http://localhost")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
            }))
            .await
            .unwrap()
    }

    // ---------------------------------------------------------------- raw HTTP/2

    /// The `:authority` current grpc-go sends for `\\.\\pipe\\csi-proxy-disk-v1`.
    pub const GO_AUTHORITY_ESCAPED: &[u8] = b"%5C%5C.%5C%5Cpipe%5C%5Ccsi-proxy-disk-v1";
    /// The raw form older grpc-go releases send.
    pub const GO_AUTHORITY_RAW: &[u8] = br"\\.\\pipe\\csi-proxy-disk-v1";

    #[derive(Debug, Default)]
    pub struct RawResponse {
        pub headers: Vec<(Vec<u8>, Vec<u8>)>,
        pub data: Vec<u8>,
        pub trailers: Vec<(Vec<u8>, Vec<u8>)>,
        pub rst_code: Option<u32>,
        pub goaway: bool,
    }

    impl RawResponse {
        pub fn header(&self, name: &str) -> Option<String> {
            self.headers
                .iter()
                .chain(self.trailers.iter())
                .find(|(n, _)| n == name.as_bytes())
                .map(|(_, v)| String::from_utf8_lossy(v).to_string())
        }

        /// The gRPC message body (after the 5-byte length prefix).
        pub fn message(&self) -> &[u8] {
            if self.data.len() >= 5 {
                &self.data[5..]
            } else {
                &[]
            }
        }
    }

    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    pub fn literal(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        winkube_csi_proxy::transport::authority::encode_literal(&mut out, name, value);
        out
    }

    /// A HEADERS block for a gRPC call; `authority` is encoded "with incremental
    /// indexing" so it lands in the dynamic table (index 62) when `index` is set.
    pub fn request_block(path: &str, authority: Option<&[u8]>, index_authority: bool) -> Vec<u8> {
        let mut b = Vec::new();
        b.push(0x83); // :method POST (static 3)
        b.push(0x86); // :scheme http (static 6)
        b.extend(literal(b":path", path.as_bytes()));
        if let Some(a) = authority {
            if index_authority {
                b.push(0x41); // literal with incremental indexing, name = static 1 (:authority)
                b.extend(loona_hpack::encoder::encode_integer(a.len(), 7));
                b.extend_from_slice(a);
            } else {
                b.extend(literal(b":authority", a));
            }
        }
        b.extend(literal(b"content-type", b"application/grpc"));
        b.extend(literal(b"te", b"trailers"));
        b
    }

    pub fn grpc_body(msg: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8];
        d.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        d.extend_from_slice(msg);
        d
    }

    /// A raw HTTP/2 connection speaking just enough protocol for unary gRPC calls.
    pub struct RawConn {
        pub io: UnixStream,
        decoder: loona_hpack::Decoder<'static>,
        buf: Vec<u8>,
    }

    impl RawConn {
        pub async fn connect(path: &Path) -> RawConn {
            let mut io = UnixStream::connect(path).await.unwrap();
            io.write_all(winkube_csi_proxy::transport::authority::PREFACE)
                .await
                .unwrap();
            io.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
            RawConn {
                io,
                decoder: loona_hpack::Decoder::new(),
                buf: Vec::new(),
            }
        }

        /// Sends one unary call with the given header block and waits for its end.
        pub async fn call(&mut self, stream: u32, block: &[u8], msg: &[u8]) -> RawResponse {
            self.io
                .write_all(&frame(0x1, 0x4, stream, block))
                .await
                .unwrap();
            self.io
                .write_all(&frame(0x0, 0x1, stream, &grpc_body(msg)))
                .await
                .unwrap();
            self.read_until_end(stream).await
        }

        async fn next_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
            loop {
                if self.buf.len() >= 9 {
                    let len = (usize::from(self.buf[0]) << 16)
                        | (usize::from(self.buf[1]) << 8)
                        | usize::from(self.buf[2]);
                    if self.buf.len() >= 9 + len {
                        let kind = self.buf[3];
                        let flags = self.buf[4];
                        let stream = u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff;
                        let payload = self.buf[9..9 + len].to_vec();
                        self.buf.drain(..9 + len);
                        return Some((kind, flags, stream, payload));
                    }
                }
                let mut tmp = [0u8; 16384];
                let n = tokio::time::timeout(Duration::from_secs(10), self.io.read(&mut tmp))
                    .await
                    .ok()?
                    .ok()?;
                if n == 0 {
                    return None;
                }
                self.buf.extend_from_slice(&tmp[..n]);
            }
        }

        pub async fn read_until_end(&mut self, stream: u32) -> RawResponse {
            let mut resp = RawResponse::default();
            let mut got_headers = false;
            while let Some((kind, flags, sid, payload)) = self.next_frame().await {
                match kind {
                    0x4 if flags & 0x1 == 0 => {
                        self.io.write_all(&frame(0x4, 0x1, 0, &[])).await.unwrap();
                    }
                    0x6 if flags & 0x1 == 0 => {
                        self.io
                            .write_all(&frame(0x6, 0x1, 0, &payload))
                            .await
                            .unwrap();
                    }
                    0x7 => {
                        resp.goaway = true;
                        return resp;
                    }
                    0x3 if sid == stream => {
                        resp.rst_code = Some(u32::from_be_bytes([
                            payload[0], payload[1], payload[2], payload[3],
                        ]));
                        return resp;
                    }
                    0x1 if sid == stream => {
                        let decoded = self.decoder.decode(&payload).unwrap();
                        if got_headers {
                            resp.trailers = decoded;
                        } else {
                            resp.headers = decoded;
                            got_headers = true;
                        }
                        if flags & 0x1 != 0 {
                            return resp;
                        }
                    }
                    0x0 if sid == stream => {
                        resp.data.extend_from_slice(&payload);
                        if flags & 0x1 != 0 {
                            return resp;
                        }
                    }
                    _ => {}
                }
            }
            resp
        }
    }
}
#[cfg(unix)]
#[allow(unused_imports)] // golden/hostile tests use only `node_with`
pub use unix_only::*;
