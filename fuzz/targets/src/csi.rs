//! The CSI proxy's input boundary: request field validation (paths, volume ids, SMB paths,
//! names, portals), and the HTTP/2 `:authority` filter in front of tonic.

use crate::pick::Pick;
use std::time::Duration;
use tokio::io::AsyncReadExt as _;
use winkube_csi_proxy::transport::authority::{AuthorityFilter, PREFACE, authority_is_acceptable};
use winkube_csi_proxy::validate::{
    AllowedRoots, Portal, SmbPath, VolumeId, host_name, parse_drive_path, user_name,
};

pub fn csi_validate(data: &[u8]) {
    let mut p = Pick::new(data);
    let which = p.byte();
    let port = u32::from_le_bytes([p.byte(), p.byte(), p.byte(), 0]);
    let Ok(raw) = std::str::from_utf8(p.rest()) else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(path) = parse_drive_path("path", raw) {
                // The normal form is a fixed point, inside its drive, with no relative parts.
                assert_eq!(
                    parse_drive_path("path", path.as_str()).ok().as_ref(),
                    Some(&path)
                );
                assert!(path.is_within(&path.drive_root()));
                assert!(
                    path.components()
                        .all(|c| c != "." && c != ".." && !c.is_empty())
                );
                if let Some(parent) = path.parent() {
                    assert!(path.is_within(&parent), "{path:?} under {parent:?}");
                }
            }
        }
        1 => {
            let roots = AllowedRoots::new(["C:\\var\\lib\\kubelet", "d:\\csi\\"]).expect("roots");
            if let Ok(path) = roots.path("path", raw) {
                assert!(roots.roots().iter().any(|r| path.is_within(r)));
                let key = path.key();
                assert!(
                    key.starts_with("c:\\var\\lib\\kubelet") || key.starts_with("d:\\csi"),
                    "{key}"
                );
                // No relative component (`..si` is a name, not one).
                assert!(key.split('\\').all(|c| c != "." && c != ".."), "{key}");
            }
        }
        2 => {
            if let Ok(v) = VolumeId::parse("volume_id", raw) {
                assert_eq!(
                    VolumeId::parse("volume_id", v.as_str()).ok().as_ref(),
                    Some(&v)
                );
            }
        }
        3 => {
            if let Ok(s) = SmbPath::parse("remote_name", raw) {
                // The root is the full path's server and share, lower-cased (the full path
                // keeps the caller's case for the link target).
                let head: Vec<&str> = s.full()[2..].splitn(3, '\\').take(2).collect();
                assert_eq!(format!("\\\\{}", head.join("\\")).to_lowercase(), s.root());
                assert_eq!(
                    SmbPath::parse("remote_name", s.full()).ok().as_ref(),
                    Some(&s)
                );
                let _ = (
                    s.host_ip(),
                    s.is_loopback(),
                    s.is_admin_share(),
                    s.share(),
                    s.host(),
                );
            }
        }
        4 => {
            if let Ok(u) = user_name("username", raw) {
                assert!(!u.chars().any(char::is_control));
            }
            if let Ok(h) = host_name("host", raw) {
                assert!(!h.chars().any(|c| c.is_control() || c == '/' || c == '\\'));
            }
        }
        _ => {
            if let Ok(portal) = Portal::new(raw, port) {
                assert!(portal.port() != 0);
                assert_eq!(portal.address(), raw);
            }
        }
    }
}

/// Bytes from a client (after the preface, for most inputs) through the filter: what comes
/// out is frames whose header blocks decode with an empty HPACK table and whose
/// `:authority`, if any, `http` accepts.
pub fn csi_authority(data: &[u8]) {
    let mut input = Vec::with_capacity(data.len() + PREFACE.len());
    let raw = data.first().is_some_and(|b| b & 0x80 != 0);
    if !raw {
        input.extend_from_slice(PREFACE);
    }
    input.extend_from_slice(data.get(1..).unwrap_or_default());
    let out = crate::block_on(async {
        let mut f = AuthorityFilter::new(&input[..], Duration::from_secs(3600));
        let mut out = Vec::new();
        let r = f.read_to_end(&mut out).await;
        (r.is_ok(), out)
    });
    let (_, out) = out;
    if raw || !out.starts_with(PREFACE) {
        return;
    }
    check_frames(&out[PREFACE.len()..]);
}

fn check_frames(mut b: &[u8]) {
    let mut block: Option<Vec<u8>> = None;
    while b.len() >= 9 {
        let len = (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]);
        let (ty, flags) = (b[3], b[4]);
        if b.len() < 9 + len {
            return; // the input ended inside a forwarded frame
        }
        let payload = &b[9..9 + len];
        b = &b[9 + len..];
        match ty {
            0x1 => {
                assert!(block.is_none(), "HEADERS inside a header block");
                let mut p = payload;
                if flags & 0x8 != 0 {
                    let pad = usize::from(p[0]);
                    p = &p[1..p.len() - pad];
                }
                if flags & 0x20 != 0 {
                    p = &p[5..];
                }
                block = Some(p.to_vec());
            }
            0x9 => block
                .as_mut()
                .expect("CONTINUATION after HEADERS")
                .extend_from_slice(payload),
            _ => {
                assert!(
                    block.is_none(),
                    "a frame interleaved in a header block went out"
                );
                continue;
            }
        }
        if flags & 0x4 != 0 {
            let b = block.take().expect("a block");
            let mut d = loona_hpack::Decoder::new();
            let headers = d
                .decode(&b)
                .expect("a re-encoded block decodes with an empty table");
            for (name, value) in headers {
                if name == b":authority" {
                    assert!(
                        authority_is_acceptable(&value),
                        "{value:?} passed the filter"
                    );
                }
            }
        }
    }
}
