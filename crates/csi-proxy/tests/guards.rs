//! Issue 13: accepted calls that combine into damage. Every guard is judged by
//! what the (fake) host says a path or volume is, and a refused call leaves
//! the host's operations untouched (only read-only checks were asked).
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;

use common::{node_with, node_with_policy};
use winkube_csi_proxy::core::disk::{DiskServer, PartitionDiskRequest, SetDiskStateRequest};
use winkube_csi_proxy::core::filesystem::{
    CreateSymlinkRequest, FilesystemServer, PathRequest, RmdirRequest,
};
use winkube_csi_proxy::core::smb::{NewSmbGlobalMappingRequest, SmbServer};
use winkube_csi_proxy::core::volume::{ResizeVolumeRequest, VolumePathRequest, VolumeServer};
use winkube_csi_proxy::error::Error;
use winkube_csi_proxy::host::LinkTarget;
use winkube_csi_proxy::host::fake::FakeHost;
use winkube_csi_proxy::validate::{AllowedRoots, parse_drive_path};

const C_VOL: &str = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000001}\";
const DATA_VOL: &str = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\";
/// The volume the fake creates when disk 2 is partitioned.
const NEW_VOL: &str = r"\\?\Volume{f0000000-0000-4000-8000-000000000001}\";
const PODS: &str = r"C:\var\lib\kubelet\pods";

fn p(s: &str) -> winkube_csi_proxy::validate::HostPath {
    parse_drive_path("test", s).unwrap()
}

fn denied<T: std::fmt::Debug>(r: Result<T, Error>, fragment: &str) {
    match r {
        Err(Error::Denied(m)) => assert!(m.contains(fragment), "{m:?} lacks {fragment:?}"),
        other => panic!("expected a denial with {fragment:?}, got {other:?}"),
    }
}

/// A seeded host with disk 2 online and partitioned: NEW_VOL exists, unmounted.
fn with_new_volume() -> Arc<FakeHost> {
    let h = Arc::new(FakeHost::seeded());
    let disks = DiskServer::new(node_with(h.clone()));
    disks
        .set_disk_state(SetDiskStateRequest {
            disk_number: 2,
            is_online: true,
        })
        .unwrap();
    disks
        .partition_disk(PartitionDiskRequest { disk_number: 2 })
        .unwrap();
    h.add_dir(&p(r"C:\var\lib\kubelet\pods\p1\vol"));
    h.clear_calls();
    h
}

fn mount(volume: &str, target: &str) -> VolumePathRequest {
    VolumePathRequest {
        volume_id: volume.into(),
        target_path: target.into(),
    }
}

// ------------------------------------------------------------------ a. system volume, boot disk, roots

#[test]
fn the_system_volume_is_never_mounted_formatted_or_resized() {
    let h = with_new_volume();
    h.add_dir(&p(r"C:\var\lib\kubelet\pods\evil"));
    h.clear_calls();
    let before = h.snapshot();
    let v = VolumeServer::new(node_with(h.clone()));
    denied(
        v.mount_volume(mount(C_VOL, r"C:\var\lib\kubelet\pods\evil")),
        "holds the operating system",
    );
    denied(v.format_volume(C_VOL), "is not formatted");
    denied(
        v.resize_volume(ResizeVolumeRequest {
            volume_id: C_VOL.into(),
            size_bytes: 0,
        }),
        "is not resized",
    );
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    assert!(
        h.checks()
            .contains(&"inspect.protected_volumes()".to_string())
    );
    assert_eq!(h.snapshot(), before);
    // An ordinary volume passes the same guards.
    v.mount_volume(mount(NEW_VOL, r"C:\var\lib\kubelet\pods\p1\vol"))
        .unwrap();
    v.format_volume(NEW_VOL).unwrap();
}

#[test]
fn a_page_file_volume_is_protected() {
    let h = with_new_volume();
    let v = VolumeServer::new(node_with(h.clone()));
    h.add_page_file(&winkube_csi_proxy::validate::VolumeId::parse("v", NEW_VOL).unwrap());
    denied(v.format_volume(NEW_VOL), "page file");
    denied(
        v.mount_volume(mount(NEW_VOL, r"C:\var\lib\kubelet\pods\p1\vol")),
        "is not mounted",
    );
    // And so is its disk.
    denied(
        DiskServer::new(node_with(h.clone())).set_disk_state(SetDiskStateRequest {
            disk_number: 2,
            is_online: false,
        }),
        "disk 2 holds",
    );
    assert!(h.calls().is_empty(), "{:?}", h.calls());
}

#[test]
fn the_boot_disk_is_never_partitioned_or_taken_offline() {
    let h = Arc::new(FakeHost::seeded());
    let d = DiskServer::new(node_with(h.clone()));
    denied(
        d.set_disk_state(SetDiskStateRequest {
            disk_number: 0,
            is_online: false,
        }),
        "is not taken offline",
    );
    denied(
        d.partition_disk(PartitionDiskRequest { disk_number: 0 }),
        "is not partitioned",
    );
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    // Bringing it online (a no-op here) is not destructive.
    d.set_disk_state(SetDiskStateRequest {
        disk_number: 0,
        is_online: true,
    })
    .unwrap();
    // The data disk may go offline.
    d.set_disk_state(SetDiskStateRequest {
        disk_number: 1,
        is_online: false,
    })
    .unwrap();
    assert_eq!(h.calls().last().unwrap(), "disk.set_online(1, false)");
}

#[test]
fn the_volume_of_an_allowed_root_is_protected() {
    // A working dir on the data volume (mounted at its globalmount) makes that volume a root's.
    let h = with_new_volume();
    let root = r"C:\var\lib\kubelet\plugins\disk.csi.example.com\pv-1\globalmount";
    let node = node_with_policy(h.clone(), |pol| {
        pol.roots = AllowedRoots::new([common::KUBELET, root]).unwrap();
    });
    let v = VolumeServer::new(node);
    denied(v.format_volume(DATA_VOL), "allowed root");
    v.format_volume(NEW_VOL).unwrap();
}

#[test]
fn a_mounted_volume_is_not_mounted_again_unless_allowed() {
    let h = with_new_volume();
    let target = r"C:\var\lib\kubelet\pods\p1\vol";
    let v = VolumeServer::new(node_with(h.clone()));
    denied(
        v.mount_volume(mount(DATA_VOL, target)),
        r"is already mounted at C:\var\lib\kubelet\plugins\disk.csi.example.com\pv-1\globalmount",
    );
    assert!(h.calls().is_empty());
    // Mounting again where it already is stays idempotent.
    v.mount_volume(mount(
        DATA_VOL,
        r"C:\var\lib\kubelet\plugins\disk.csi.example.com\pv-1\globalmount",
    ))
    .unwrap();
    let allowed = VolumeServer::new(node_with_policy(h.clone(), |pol| pol.allow_remount = true));
    allowed.mount_volume(mount(DATA_VOL, target)).unwrap();
    assert_eq!(
        h.node(target).as_deref(),
        Some(&*format!("mount:{DATA_VOL}"))
    );
}

#[test]
fn an_allowed_root_is_never_a_mount_target() {
    let h = with_new_volume();
    h.add_dir(&p(r"D:\work"));
    let node = node_with_policy(h.clone(), |pol| {
        pol.roots = AllowedRoots::new([common::KUBELET, r"D:\work"]).unwrap();
    });
    let v = VolumeServer::new(node);
    // D:\work is an empty root on a drive the fake has no volume for: the root check comes first.
    denied(
        v.mount_volume(mount(NEW_VOL, r"D:\work")),
        "allowed root directory",
    );
    denied(
        v.mount_volume(mount(NEW_VOL, common::KUBELET)),
        "allowed root directory",
    );
    assert!(h.calls().is_empty());
}

// ------------------------------------------------------------------ b. links

#[test]
fn a_link_to_the_kubelet_root_is_removed_never_emptied() {
    let h = Arc::new(FakeHost::seeded());
    let fs = FilesystemServer::new(node_with(h.clone()));
    let link = r"C:\var\lib\kubelet\pods\link";
    fs.create_symlink(CreateSymlinkRequest {
        source_path: common::KUBELET.into(),
        target_path: link.into(),
    })
    .unwrap();
    h.clear_calls();
    let before = h.snapshot();
    denied(
        fs.rmdir_contents(PathRequest {
            path: link.into(),
            ..Default::default()
        }),
        "allowed root directory",
    );
    assert!(h.calls().is_empty());
    assert_eq!(h.snapshot(), before);
    // Removing the link itself is fine and leaves the root whole.
    fs.rmdir(RmdirRequest {
        path: link.into(),
        force: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(h.node(link), None);
    assert_eq!(h.node(PODS).as_deref(), Some("dir"));
}

#[test]
fn a_link_out_of_the_roots_is_judged_by_its_target() {
    let h = Arc::new(FakeHost::seeded());
    h.add_dir(&p(r"C:\Windows\System32"));
    let out = r"C:\var\lib\kubelet\pods\out";
    h.add_link(&p(out), LinkTarget::Path(p(r"C:\Windows")));
    h.clear_calls();
    let before = h.snapshot();
    let fs = FilesystemServer::new(node_with(h.clone()));
    let inside = PathRequest {
        path: format!(r"{out}\System32"),
        ..Default::default()
    };
    denied(
        fs.rmdir(RmdirRequest {
            path: inside.path.clone(),
            force: true,
            ..Default::default()
        }),
        r"resolves to C:\Windows\System32, outside the allowed directories",
    );
    denied(fs.rmdir_contents(inside.clone()), "outside the allowed");
    denied(
        fs.rmdir_contents(PathRequest {
            path: out.into(),
            ..Default::default()
        }),
        "outside the allowed",
    );
    denied(
        fs.mkdir(PathRequest {
            path: format!(r"{out}\new"),
            ..Default::default()
        }),
        "outside the allowed",
    );
    denied(
        fs.create_symlink(CreateSymlinkRequest {
            source_path: PODS.into(),
            target_path: format!(r"{out}\l"),
        }),
        "outside the allowed",
    );
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    assert_eq!(h.snapshot(), before);
    // The fake follows the link as Windows would: the host alone would have removed C:\Windows\System32.
    // The link itself may go.
    fs.rmdir(RmdirRequest {
        path: out.into(),
        force: false,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(h.node(r"C:\Windows\System32").as_deref(), Some("dir"));
}

#[test]
fn link_loops_and_remote_links_are_refused() {
    let h = Arc::new(FakeHost::seeded());
    let (a, b) = (r"C:\var\lib\kubelet\pods\a", r"C:\var\lib\kubelet\pods\b");
    h.add_link(&p(a), LinkTarget::Path(p(b)));
    h.add_link(&p(b), LinkTarget::Path(p(a)));
    let smb = r"C:\var\lib\kubelet\pods\smb";
    h.add_link(&p(smb), LinkTarget::Remote(r"\\fileserver\share".into()));
    h.clear_calls();
    let fs = FilesystemServer::new(node_with(h.clone()));
    let e = fs
        .mkdir(PathRequest {
            path: format!(r"{a}\x"),
            ..Default::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("cannot be resolved"), "{e}");
    denied(
        fs.mkdir(PathRequest {
            path: format!(r"{smb}\x"),
            ..Default::default()
        }),
        "leads to a remote share",
    );
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    // Unlinking an SMB volume's link is how drivers unpublish it.
    fs.rmdir(RmdirRequest {
        path: smb.into(),
        force: false,
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn a_system_volume_mounted_inside_the_roots_is_not_emptied() {
    // As if an older proxy had mounted C: under pods\evil: nothing under it is removed.
    let h = Arc::new(FakeHost::seeded());
    let evil = r"C:\var\lib\kubelet\pods\evil";
    let c = winkube_csi_proxy::validate::VolumeId::parse("v", C_VOL).unwrap();
    h.add_link(&p(evil), LinkTarget::Volume(c));
    h.clear_calls();
    let fs = FilesystemServer::new(node_with(h.clone()));
    denied(
        fs.rmdir_contents(PathRequest {
            path: evil.into(),
            ..Default::default()
        }),
        "system volume mounted inside",
    );
    denied(
        fs.rmdir(RmdirRequest {
            path: format!(r"{evil}\Windows"),
            force: true,
            ..Default::default()
        }),
        "system volume mounted inside",
    );
    assert!(h.calls().is_empty(), "{:?}", h.calls());
}

// ------------------------------------------------------------------ c. reserved device names

#[test]
fn every_reserved_device_name_is_refused() {
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let fs = FilesystemServer::new(node_with(h.clone()));
    for name in [
        "COM¹",
        "COM²",
        "COM³",
        "LPT¹",
        "LPT²",
        "LPT³",
        "COM0",
        "LPT0",
        "com¹.txt",
        "lpt0.log",
        "Com³ .x",
        "CONIN$",
        "conout$.txt",
    ] {
        let path = format!(r"{PODS}\{name}");
        let e = fs
            .mkdir(PathRequest {
                path: path.clone(),
                ..Default::default()
            })
            .unwrap_err();
        assert!(
            e.to_string().contains("reserved device name"),
            "{path}: {e}"
        );
    }
    assert!(h.calls().is_empty() && h.checks().is_empty());
    assert_eq!(h.snapshot(), before);
    // Near misses are ordinary names.
    for name in ["COM10", "LPT⁴", "COM¹0", "CONSOLE", "com"] {
        fs.mkdir(PathRequest {
            path: format!(r"{PODS}\{name}"),
            ..Default::default()
        })
        .unwrap();
    }
}

// ------------------------------------------------------------------ d. SMB

fn map(remote: &str) -> NewSmbGlobalMappingRequest {
    NewSmbGlobalMappingRequest {
        remote_path: remote.into(),
        local_path: r"C:\var\lib\kubelet\plugins\smb.csi.example.com\pv".into(),
        ..Default::default()
    }
}

#[test]
fn smb_refuses_this_node_in_every_spelling() {
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let smb = SmbServer::new(node_with(h.clone()));
    for remote in [
        r"\\127.0.0.1\C$",
        r"\\localhost\ADMIN$",
        r"\\LOCALHOST\share",
        r"\\x.localhost\share",
        r"\\127.1\share",
        r"\\127.0.1\share",
        r"\\2130706433\share",
        r"\\0x7f000001\share",
        r"\\0x7F.1\share",
        r"\\0177.0.0.1\share",
        r"\\017700000001\share",
        r"\\127.255.255.254\share",
        r"\\0.0.0.0\share",
        r"\\0\share",
        r"\\::1\share",
        r"\\::\share",
        r"\\::ffff:127.0.0.1\share",
        r"\\0--1.ipv6-literal.net\share",
        r"\\fakenode\share",
        r"\\FAKENODE.example.com\share",
        r"\\10.0.0.5\share",
        r"\\10.5\share",
        r"\\0xa000005\share",
        r"\\fe80::5\share",
    ] {
        match smb.new_smb_global_mapping(map(remote)) {
            Err(Error::Denied(m)) => assert!(m.contains("names this node"), "{remote}: {m}"),
            other => panic!("{remote}: {other:?}"),
        }
    }
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    assert_eq!(h.snapshot(), before);
    // Names that only look close are other machines.
    assert!(
        SmbServer::new(node_with(h.clone()))
            .new_smb_global_mapping(map(r"\\fileserver\public"))
            .is_ok()
    );
    for other in [
        r"\\128.0.0.1\share",
        r"\\fakenode2\share",
        r"\\10.0.0.6\share",
    ] {
        let req = NewSmbGlobalMappingRequest {
            local_path: String::new(),
            ..map(other)
        };
        if let Err(Error::Denied(m)) = smb.new_smb_global_mapping(req) {
            panic!("{other}: {m}");
        }
    }
}

#[test]
fn smb_administrative_shares_need_the_flag_and_backticks_are_refused() {
    let h = Arc::new(FakeHost::seeded());
    h.add_share(r"\\fileserver\c$", None);
    h.add_share(r"\\fileserver\data$", None);
    let smb = SmbServer::new(node_with(h.clone()));
    for remote in [
        r"\\fileserver\C$",
        r"\\fileserver\admin$",
        r"\\fileserver\IPC$",
    ] {
        denied(
            smb.new_smb_global_mapping(map(remote)),
            "administrative share",
        );
    }
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    // A hidden share is not an administrative one.
    smb.new_smb_global_mapping(NewSmbGlobalMappingRequest {
        local_path: String::new(),
        ..map(r"\\fileserver\data$")
    })
    .unwrap();
    let allowed = SmbServer::new(node_with_policy(h.clone(), |p| p.allow_admin_shares = true));
    allowed
        .new_smb_global_mapping(NewSmbGlobalMappingRequest {
            local_path: String::new(),
            ..map(r"\\fileserver\C$")
        })
        .unwrap();
    let e = smb
        .new_smb_global_mapping(map(r"\\fileserver\sh`are"))
        .unwrap_err();
    assert!(e.to_string().contains("invalid character '`'"), "{e}");
}

#[test]
fn ipv4_forms_are_read_as_windows_reads_them() {
    use winkube_csi_proxy::validate::ipv4_any_form;
    for (s, want) in [
        ("127.0.0.1", Some([127, 0, 0, 1])),
        ("127.1", Some([127, 0, 0, 1])),
        ("10.0.5", Some([10, 0, 0, 5])),
        ("2130706433", Some([127, 0, 0, 1])),
        ("0x7f.0.0.01", Some([127, 0, 0, 1])),
        ("0300.0250.1.1", Some([192, 168, 1, 1])),
        ("256.1", None),
        ("1.2.3.4.5", None),
        ("4294967296", None),
        ("08", None),
        ("fileserver", None),
    ] {
        assert_eq!(ipv4_any_form(s).map(|a| a.octets()), want, "{s}");
    }
}

// ------------------------------------------------------------------ h. bidi and control characters

/// A log sink for one test.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn messages_and_logs_never_carry_raw_bidi_or_control_characters() {
    use tonic::Request;
    use winkube_csi_proxy::versions;
    use winkube_csi_proxy::wire::filesystem::v1 as pb;
    use winkube_csi_proxy::wire::filesystem::v1::filesystem_server::Filesystem as _;

    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Arc::new(FakeHost::seeded());
    let svc = versions::filesystem::v1::Service(FilesystemServer::new(node_with(h.clone())));
    // U+202E is legal in an NTFS name: "photo\u{202E}gpj.exe" shows as "photoexe.jpg".
    let dir = format!("{PODS}\\photo\u{202E}gpj.exe");
    svc.mkdir(Request::new(pb::MkdirRequest { path: dir.clone() }))
        .await
        .unwrap();
    svc.mkdir(Request::new(pb::MkdirRequest {
        path: format!("{dir}\\inner"),
    }))
    .await
    .unwrap();
    // Not empty: the host's message names the path.
    let e = svc
        .rmdir(Request::new(pb::RmdirRequest {
            path: dir.clone(),
            force: false,
        }))
        .await
        .unwrap_err();
    let msg = e.message();
    assert!(!msg.contains('\u{202E}'), "raw U+202E in {msg:?}");
    assert!(msg.contains(r"photo\u{202e}gpj.exe"), "{msg}");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("request failed"), "{logged}");
    assert!(
        !logged.contains('\u{202E}'),
        "raw U+202E in the log: {logged}"
    );
    assert!(logged.contains(r"photo\u{202e}gpj.exe"), "{logged}");
}

#[test]
fn escaping_covers_controls_bidi_and_invisible_format_characters() {
    use winkube_csi_proxy::validate::escaped;
    assert_eq!(escaped("plain C:\\x ü"), "plain C:\\x ü");
    for (c, shown) in [
        ('\u{202E}', r"\u{202e}"),
        ('\u{2066}', r"\u{2066}"),
        ('\u{200F}', r"\u{200f}"),
        ('\u{061C}', r"\u{061c}"),
        ('\u{FEFF}', r"\u{feff}"),
        ('\u{2028}', r"\u{2028}"),
        ('\u{1b}', r"\u{001b}"),
        ('\u{85}', r"\u{0085}"),
        ('\n', r"\u{000a}"),
    ] {
        assert_eq!(escaped(&format!("a{c}b")), format!("a{shown}b"), "{c:?}");
    }
}
