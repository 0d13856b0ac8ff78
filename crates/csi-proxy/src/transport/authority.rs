//! An HTTP/2 read-side filter that makes grpc-go's pipe-path `:authority` acceptable.
//!
//! grpc-go puts the dial target into `:authority`; for csi-proxy clients that
//! is the pipe path, sent percent-encoded (`%5C%5C.%5C%5Cpipe%5C%5C...`) by
//! current grpc-go and raw (`\\.\\pipe\\...`) by old releases. `h2` (under
//! tonic) refuses both with `RST_STREAM(PROTOCOL_ERROR)` (spec §2.6.1).
//!
//! This filter sits between the socket/pipe and tonic. It forwards the client
//! preface and every frame unchanged, except header blocks (HEADERS and its
//! CONTINUATIONs): those are HPACK-decoded with the client's dynamic-table
//! state, an `:authority` that `http` would reject is dropped (the request
//! then has no authority, which HTTP/2 allows and gRPC ignores), and the block
//! is re-encoded as literals without indexing, so `h2`'s decoder never needs
//! the client's dynamic table. The write side (server → client) is untouched.
//!
//! It also bounds the time a connection may take to send its preface: every
//! Go client opens a probe connection that never speaks (spec §2.6.2); and,
//! once the preface is in, the time a connection may sit with no open stream
//! and no traffic (the idle timeout). Streams are tracked from the frame
//! headers of both directions: a request's HEADERS opens one, the server's
//! END_STREAM or a RST_STREAM from either side closes it.

use std::collections::BTreeSet;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The HTTP/2 client connection preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const TYPE_DATA: u8 = 0x0;
const TYPE_HEADERS: u8 = 0x1;
const TYPE_RST_STREAM: u8 = 0x3;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// The frame size every HTTP/2 peer must accept (SETTINGS_MAX_FRAME_SIZE default).
const OUT_FRAME_MAX: usize = 16_384;
/// Largest header block accepted; bigger ones close the connection.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Largest *decoded* header list, counted as h2 and RFC 9113 §6.5.2 count it
/// (name + value + 32 per field): hyper's default for the h2 server behind
/// tonic, which it advertises as SETTINGS_MAX_HEADER_LIST_SIZE. A small encoded
/// block can reference one dynamic-table entry thousands of times, so the
/// encoded bound alone does not bound memory.
pub const MAX_HEADER_LIST_SIZE: usize = 16 * 1024;
const HEADER_FIELD_OVERHEAD: usize = 32;
/// h2's default SETTINGS_HEADER_TABLE_SIZE, which the client's encoder must respect.
const HEADER_TABLE_SIZE: usize = 4096;

enum Phase {
    Preface,
    Frames,
    /// Not HTTP/2 prior knowledge: pass bytes through and let h2 reject them.
    Passthrough,
}

struct PendingBlock {
    stream_id: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
}

/// Wraps a connection; see the module documentation.
pub struct AuthorityFilter<S> {
    inner: S,
    phase: Phase,
    inbuf: BytesMut,
    outbuf: BytesMut,
    decoder: loona_hpack::Decoder<'static>,
    pending: Option<PendingBlock>,
    handshake_deadline: Option<Pin<Box<Sleep>>>,
    eof: bool,
    /// Payload bytes of a forwarded (non-header) frame still to copy.
    forward_remaining: usize,
    /// Closes the connection after this long with no open stream and no traffic.
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Pin<Box<Sleep>>>,
    /// Client streams the server has not finished yet.
    open_streams: BTreeSet<u32>,
    /// Write side: bytes of the current frame header collected, payload left to skip.
    out_head: [u8; FRAME_HEADER_LEN],
    out_head_len: usize,
    out_skip: usize,
    /// Held for the life of the connection (the endpoint's connection cap).
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

fn protocol_error(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Whether `http` (and so h2) accepts this `:authority` value.
pub fn authority_is_acceptable(value: &[u8]) -> bool {
    !value.is_empty() && http::uri::Authority::try_from(value).is_ok()
}

/// Encodes one header as "literal header field without indexing, new name", no Huffman.
pub fn encode_literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    out.extend(loona_hpack::encoder::encode_integer(name.len(), 7));
    out.extend_from_slice(name);
    out.extend(loona_hpack::encoder::encode_integer(value.len(), 7));
    out.extend_from_slice(value);
}

impl<S> AuthorityFilter<S> {
    /// Wraps `inner`; the preface must arrive within `handshake_timeout`.
    pub fn new(inner: S, handshake_timeout: Duration) -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(HEADER_TABLE_SIZE);
        AuthorityFilter {
            inner,
            phase: Phase::Preface,
            inbuf: BytesMut::with_capacity(8192),
            outbuf: BytesMut::with_capacity(8192),
            decoder,
            pending: None,
            handshake_deadline: Some(Box::pin(tokio::time::sleep(handshake_timeout))),
            eof: false,
            forward_remaining: 0,
            idle_timeout: None,
            idle_deadline: None,
            open_streams: BTreeSet::new(),
            out_head: [0; FRAME_HEADER_LEN],
            out_head_len: 0,
            out_skip: 0,
            _permit: None,
        }
    }

    /// Closes the connection once it has had no open stream and no traffic
    /// for `idle` after the preface.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle);
        self
    }

    /// Holds `permit` until the connection is dropped.
    pub fn hold(mut self, permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        self._permit = Some(permit);
        self
    }

    /// Any traffic pushes the idle deadline back.
    fn touch(&mut self) {
        if let (Some(idle), Some(d)) = (self.idle_timeout, self.idle_deadline.as_mut()) {
            d.as_mut().reset(tokio::time::Instant::now() + idle);
        }
    }

    /// Follows the frame headers the server writes, to see streams end.
    fn track_written(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.out_skip > 0 {
                let n = self.out_skip.min(bytes.len());
                self.out_skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEADER_LEN - self.out_head_len).min(bytes.len());
            self.out_head[self.out_head_len..self.out_head_len + n].copy_from_slice(&bytes[..n]);
            self.out_head_len += n;
            bytes = &bytes[n..];
            if self.out_head_len == FRAME_HEADER_LEN {
                let h = self.out_head;
                self.out_head_len = 0;
                self.out_skip =
                    (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                let ends = match h[3] {
                    TYPE_HEADERS | TYPE_DATA => h[4] & FLAG_END_STREAM != 0,
                    TYPE_RST_STREAM => true,
                    _ => false,
                };
                if ends {
                    self.open_streams.remove(&stream);
                }
            }
        }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Moves whatever can be processed from `inbuf` to `outbuf`.
    fn process(&mut self) -> io::Result<()> {
        loop {
            match self.phase {
                Phase::Passthrough => {
                    let all = self.inbuf.split();
                    self.outbuf.extend_from_slice(&all);
                    return Ok(());
                }
                Phase::Preface => {
                    let n = self.inbuf.len().min(PREFACE.len());
                    if self.inbuf[..n] != PREFACE[..n] {
                        self.phase = Phase::Passthrough;
                        self.handshake_deadline = None;
                        continue;
                    }
                    if n < PREFACE.len() {
                        return Ok(());
                    }
                    self.inbuf.advance(PREFACE.len());
                    self.outbuf.extend_from_slice(PREFACE);
                    self.phase = Phase::Frames;
                    self.handshake_deadline = None;
                    self.idle_deadline = self.idle_timeout.map(|d| Box::pin(tokio::time::sleep(d)));
                }
                Phase::Frames => {
                    if self.forward_remaining > 0 {
                        let n = self.forward_remaining.min(self.inbuf.len());
                        if n == 0 {
                            return Ok(());
                        }
                        let part = self.inbuf.split_to(n);
                        self.outbuf.extend_from_slice(&part);
                        self.forward_remaining -= n;
                        continue;
                    }
                    if self.inbuf.len() < FRAME_HEADER_LEN {
                        return Ok(());
                    }
                    let len = (usize::from(self.inbuf[0]) << 16)
                        | (usize::from(self.inbuf[1]) << 8)
                        | usize::from(self.inbuf[2]);
                    let kind = self.inbuf[3];
                    if kind != TYPE_HEADERS && kind != TYPE_CONTINUATION {
                        if self.pending.is_some() {
                            return Err(protocol_error("frame interleaved inside a header block"));
                        }
                        // Forward other frames as they arrive, payload streamed, so
                        // h2 applies its own frame-size limits without us buffering.
                        if kind == TYPE_RST_STREAM {
                            let id = u32::from_be_bytes([
                                self.inbuf[5],
                                self.inbuf[6],
                                self.inbuf[7],
                                self.inbuf[8],
                            ]) & 0x7fff_ffff;
                            self.open_streams.remove(&id);
                        }
                        let head = self.inbuf.split_to(FRAME_HEADER_LEN);
                        self.outbuf.extend_from_slice(&head);
                        self.forward_remaining = len;
                        continue;
                    }
                    if self.inbuf.len() < FRAME_HEADER_LEN + len {
                        if len > MAX_HEADER_BLOCK {
                            return Err(protocol_error("header frame too large"));
                        }
                        return Ok(());
                    }
                    let head = self.inbuf.split_to(FRAME_HEADER_LEN);
                    let payload = self.inbuf.split_to(len);
                    let flags = head[4];
                    let stream_id =
                        u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
                    self.on_header_frame(kind, flags, stream_id, &payload)?;
                }
            }
        }
    }

    fn on_header_frame(
        &mut self,
        kind: u8,
        flags: u8,
        stream_id: u32,
        payload: &[u8],
    ) -> io::Result<()> {
        if kind == TYPE_HEADERS {
            if self.pending.is_some() {
                return Err(protocol_error("HEADERS inside an unfinished header block"));
            }
            let mut p = payload;
            let mut pad = 0usize;
            if flags & FLAG_PADDED != 0 {
                let (&n, rest) = p
                    .split_first()
                    .ok_or_else(|| protocol_error("empty padded HEADERS"))?;
                pad = usize::from(n);
                p = rest;
            }
            let mut priority = None;
            if flags & FLAG_PRIORITY != 0 {
                if p.len() < 5 {
                    return Err(protocol_error("short HEADERS priority"));
                }
                let mut pr = [0u8; 5];
                pr.copy_from_slice(&p[..5]);
                priority = Some(pr);
                p = &p[5..];
            }
            if pad > p.len() {
                return Err(protocol_error("HEADERS padding longer than payload"));
            }
            let fragment = &p[..p.len() - pad];
            if stream_id % 2 == 1 {
                self.open_streams.insert(stream_id);
            }
            self.pending = Some(PendingBlock {
                stream_id,
                end_stream: flags & FLAG_END_STREAM != 0,
                priority,
                block: fragment.to_vec(),
            });
        } else {
            let pending = self
                .pending
                .as_mut()
                .ok_or_else(|| protocol_error("CONTINUATION without HEADERS"))?;
            if pending.stream_id != stream_id {
                return Err(protocol_error("CONTINUATION on another stream"));
            }
            if pending.block.len() + payload.len() > MAX_HEADER_BLOCK {
                return Err(protocol_error("header block too large"));
            }
            pending.block.extend_from_slice(payload);
        }
        if flags & FLAG_END_HEADERS != 0
            && let Some(block) = self.pending.take()
        {
            self.emit_block(block)?;
        }
        Ok(())
    }

    fn emit_block(&mut self, p: PendingBlock) -> io::Result<()> {
        // Fields are re-encoded as they are decoded, never collected: past the
        // list limit nothing more is kept, and the block is refused at its end
        // (the decoder must still see the whole block to keep its table right).
        let mut encoded = Vec::with_capacity(p.block.len() + 64);
        let mut list_size = 0usize;
        self.decoder
            .decode_with_cb(&p.block, |name, value| {
                list_size =
                    list_size.saturating_add(name.len() + value.len() + HEADER_FIELD_OVERHEAD);
                if list_size > MAX_HEADER_LIST_SIZE {
                    return;
                }
                if name.as_ref() == b":authority" && !authority_is_acceptable(&value) {
                    tracing::trace!(
                        authority = %crate::validate::escaped(&String::from_utf8_lossy(&value)),
                        "dropping :authority that h2 would refuse (grpc-go pipe target)"
                    );
                    return;
                }
                encode_literal(&mut encoded, &name, &value);
            })
            .map_err(|e| protocol_error(format!("HPACK decoding failed: {e:?}")))?;
        if list_size > MAX_HEADER_LIST_SIZE {
            return Err(protocol_error(format!(
                "decoded header list of {list_size} bytes exceeds {MAX_HEADER_LIST_SIZE}"
            )));
        }
        let mut first = true;
        let mut rest: &[u8] = &encoded;
        loop {
            let prio_len = if first && p.priority.is_some() { 5 } else { 0 };
            let take = rest.len().min(OUT_FRAME_MAX - prio_len);
            let (chunk, tail) = rest.split_at(take);
            let mut flags = 0u8;
            if tail.is_empty() {
                flags |= FLAG_END_HEADERS;
            }
            let kind = if first {
                if p.end_stream {
                    flags |= FLAG_END_STREAM;
                }
                if p.priority.is_some() {
                    flags |= FLAG_PRIORITY;
                }
                TYPE_HEADERS
            } else {
                TYPE_CONTINUATION
            };
            let len = chunk.len() + prio_len;
            self.outbuf.put_u8(((len >> 16) & 0xff) as u8);
            self.outbuf.put_u8(((len >> 8) & 0xff) as u8);
            self.outbuf.put_u8((len & 0xff) as u8);
            self.outbuf.put_u8(kind);
            self.outbuf.put_u8(flags);
            self.outbuf.put_u32(p.stream_id);
            if first && let Some(pr) = p.priority {
                self.outbuf.extend_from_slice(&pr);
            }
            self.outbuf.extend_from_slice(chunk);
            first = false;
            rest = tail;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFilter<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.outbuf.is_empty() {
                let n = this.outbuf.len().min(buf.remaining());
                buf.put_slice(&this.outbuf.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if let Some(deadline) = this.handshake_deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client sent no HTTP/2 preface in time",
                )));
            }
            if let Some(deadline) = this.idle_deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                if this.open_streams.is_empty() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle: no open stream and no traffic",
                    )));
                }
                // A call is still running: wait for it, then count again.
                this.touch();
                continue;
            }
            let mut tmp = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let filled = rb.filled();
                    if filled.is_empty() {
                        this.eof = true;
                        continue;
                    }
                    this.inbuf.extend_from_slice(filled);
                    this.touch();
                    this.process()?;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFilter<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.track_written(&buf[..n]);
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = r {
            for b in bufs {
                let k = n.min(b.len());
                this.track_written(&b[..k]);
                n -= k;
                if n == 0 {
                    break;
                }
            }
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S> tonic::transport::server::Connected for AuthorityFilter<S> {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Feeds `input` through the filter and returns what tonic would read.
    async fn filter(input: Vec<u8>) -> io::Result<Vec<u8>> {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        client.write_all(&input).await.unwrap();
        drop(client);
        let mut f = AuthorityFilter::new(server, Duration::from_secs(5));
        let mut out = Vec::new();
        f.read_to_end(&mut out).await?;
        Ok(out)
    }

    fn block(authority: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode_literal(&mut b, b":method", b"POST");
        encode_literal(&mut b, b":authority", authority);
        encode_literal(&mut b, b":path", b"/v1.Disk/Rescan");
        b
    }

    type Headers = Vec<(Vec<u8>, Vec<u8>)>;

    fn decode_headers(out: &[u8]) -> (u8, Headers) {
        let frames = &out[PREFACE.len()..];
        let len =
            (usize::from(frames[0]) << 16) | (usize::from(frames[1]) << 8) | usize::from(frames[2]);
        let flags = frames[4];
        let payload = &frames[9..9 + len];
        let payload = if flags & FLAG_PRIORITY != 0 {
            &payload[5..]
        } else {
            payload
        };
        (flags, loona_hpack::Decoder::new().decode(payload).unwrap())
    }

    #[tokio::test]
    async fn invalid_authority_is_dropped_valid_one_kept() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_END_STREAM,
            1,
            &block(br"%5C%5C.%5C%5Cpipe%5C%5Cx"),
        ));
        let (flags, headers) = decode_headers(&filter(input).await.unwrap());
        assert_eq!(flags, FLAG_END_HEADERS | FLAG_END_STREAM);
        let names: Vec<&[u8]> = headers.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(names, [&b":method"[..], b":path"]);

        let mut input = PREFACE.to_vec();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS,
            1,
            &block(b"localhost:1234"),
        ));
        let (_, headers) = decode_headers(&filter(input).await.unwrap());
        assert!(headers.contains(&(b":authority".to_vec(), b"localhost:1234".to_vec())));
    }

    #[tokio::test]
    async fn padding_priority_and_continuation_are_handled() {
        let b = block(br"\\.\\pipe\\x");
        let (first, second) = b.split_at(7);
        let mut payload = vec![3u8]; // pad length
        payload.extend_from_slice(&[0x80, 0, 0, 0, 16]); // exclusive dependency on 0, weight 16
        payload.extend_from_slice(first);
        payload.extend_from_slice(&[0, 0, 0]); // padding
        let mut input = PREFACE.to_vec();
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_PADDED | FLAG_PRIORITY,
            3,
            &payload,
        ));
        input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 3, second));
        input.extend(frame(0x0, 0x1, 3, b"body"));
        let out = filter(input).await.unwrap();
        let (flags, headers) = decode_headers(&out);
        assert_eq!(flags, FLAG_END_HEADERS | FLAG_PRIORITY);
        assert_eq!(headers.len(), 2);
        let tail = &out[out.len() - 13..];
        assert_eq!(
            tail,
            frame(0x0, 0x1, 3, b"body").as_slice(),
            "DATA passes unchanged"
        );
    }

    #[tokio::test]
    async fn protocol_violations_close_the_connection() {
        let mut cont_alone = PREFACE.to_vec();
        cont_alone.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, b"x"));
        let mut bad_hpack = PREFACE.to_vec();
        bad_hpack.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS,
            1,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ));
        let mut interleaved = PREFACE.to_vec();
        interleaved.extend(frame(TYPE_HEADERS, 0, 1, &block(b"a")));
        interleaved.extend(frame(0x0, 0, 1, b"x"));
        let mut huge = PREFACE.to_vec();
        huge.extend(frame(TYPE_HEADERS, 0, 1, &vec![0u8; MAX_HEADER_BLOCK + 1]));
        for input in [cont_alone, bad_hpack, interleaved, huge] {
            let e = filter(input).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        }
    }

    #[tokio::test]
    async fn non_http2_bytes_pass_through_for_h2_to_reject() {
        let out = filter(b"GET / HTTP/1.1\r\n\r\n".to_vec()).await.unwrap();
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn silent_connections_time_out() {
        let (_client, server) = tokio::io::duplex(64);
        let mut f = AuthorityFilter::new(server, Duration::from_secs(120));
        let mut buf = [0u8; 8];
        let e = f.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
