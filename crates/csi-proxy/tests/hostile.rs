//! Malformed and hostile inputs: each returns a clear status and leaves the
//! host untouched (no host call at all, state unchanged).
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;

use common::node_with;
use tonic::{Code, Request, Status};
use winkube_csi_proxy::core::filesystem::FilesystemServer;
use winkube_csi_proxy::core::iscsi::IscsiServer;
use winkube_csi_proxy::core::smb::SmbServer;
use winkube_csi_proxy::core::system::SystemServer;
use winkube_csi_proxy::core::volume::VolumeServer;
use winkube_csi_proxy::host::fake::FakeHost;
use winkube_csi_proxy::versions;
use winkube_csi_proxy::wire;

const VOL: &str = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\";

/// Hostile paths, each with a fragment the error message must contain.
const BAD_PATHS: &[(&str, &str)] = &[
    ("", "path is empty"),
    (
        r"C:\var\lib\kubelet\..\..\Windows",
        "relative component '..'",
    ),
    (r"C:\var\lib\kubelet\pods\.\x", "relative component '.'"),
    (
        r"C:\var\lib\kubelet-evil\x",
        "not within the allowed directories",
    ),
    (r"C:\Windows\System32", "not within the allowed directories"),
    (
        r"D:\var\lib\kubelet\x",
        "not within the allowed directories",
    ),
    (r"\\evil\share\x", "UNC and device paths"),
    (r"\\?\C:\var\lib\kubelet\x", "UNC and device paths"),
    (r"\\.\pipe\csi-proxy-disk-v1", "UNC and device paths"),
    (
        r"\\?\GLOBALROOT\Device\HarddiskVolume1",
        "UNC and device paths",
    ),
    (r"var\lib\kubelet", "not an absolute Windows path"),
    (r"C:var\lib\kubelet", "not an absolute Windows path"),
    ("C:/var/lib/kubelet/x", "not an absolute Windows path"),
    (r"C:\var\lib\kubelet/../x", "invalid character '/'"),
    (
        r#"C:\var\lib\kubelet\a"; Remove-Item C:\ -Recurse; "#,
        "invalid character '\"'",
    ),
    (r"C:\var\lib\kubelet\a|b", "invalid character '|'"),
    (r"C:\var\lib\kubelet\*", "invalid character '*'"),
    (r"C:\var\lib\kubelet\a:stream", "invalid character ':'"),
    ("C:\\var\\lib\\kubelet\\a\u{0}b", "control characters"),
    ("C:\\var\\lib\\kubelet\\a\nb", "control characters"),
    ("C:\\var\\lib\\kubelet\\a\u{1b}[31m", "control characters"),
    (r"C:\var\lib\kubelet\CON", "reserved device name"),
    (r"C:\var\lib\kubelet\nul.txt", "reserved device name"),
    (r"C:\var\lib\kubelet\a.", "ends with a dot or space"),
    (r"C:\var\lib\kubelet\a ", "ends with a dot or space"),
    (r"C:\var\lib\kubelet\\x", "empty component"),
];

fn long_path() -> String {
    format!(r"C:\var\lib\kubelet\{}", "a".repeat(250))
}

fn assert_clean(h: &FakeHost, before: &str, what: &str) {
    assert!(
        h.calls().is_empty(),
        "{what}: host was called: {:?}",
        h.calls()
    );
    assert_eq!(h.snapshot(), before, "{what}: host state changed");
}

fn assert_refused(r: Result<impl std::fmt::Debug, Status>, fragment: &str, what: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.code(), Code::Unknown, "{what}");
    assert!(
        e.message().contains(fragment),
        "{what}: {:?} lacks {fragment:?}",
        e.message()
    );
}

#[tokio::test]
async fn filesystem_rejects_hostile_paths_in_every_rpc() {
    use wire::filesystem::v2alpha1::filesystem_server::Filesystem as _;
    use wire::filesystem::v2alpha1::*;
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let svc = versions::filesystem::v2alpha1::Service(FilesystemServer::new(node_with(h.clone())));
    let mut cases: Vec<(String, &str)> =
        BAD_PATHS.iter().map(|(p, f)| (p.to_string(), *f)).collect();
    cases.push((long_path(), "exceeds the maximum of 260"));
    for (p, frag) in &cases {
        let what = format!("{p:?}");
        assert_refused(
            svc.path_exists(Request::new(PathExistsRequest { path: p.clone() }))
                .await,
            frag,
            &what,
        );
        assert_refused(
            svc.mkdir(Request::new(MkdirRequest { path: p.clone() }))
                .await,
            frag,
            &what,
        );
        assert_refused(
            svc.rmdir(Request::new(RmdirRequest {
                path: p.clone(),
                force: true,
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.rmdir_contents(Request::new(RmdirContentsRequest { path: p.clone() }))
                .await,
            frag,
            &what,
        );
        assert_refused(
            svc.is_symlink(Request::new(IsSymlinkRequest { path: p.clone() }))
                .await,
            frag,
            &what,
        );
        let ok = r"C:\var\lib\kubelet\pods\x".to_string();
        assert_refused(
            svc.create_symlink(Request::new(CreateSymlinkRequest {
                source_path: p.clone(),
                target_path: ok.clone(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.create_symlink(Request::new(CreateSymlinkRequest {
                source_path: ok,
                target_path: p.clone(),
            }))
            .await,
            frag,
            &what,
        );
    }
    assert_clean(&h, &before, "filesystem");
}

#[tokio::test]
async fn shell_syntax_in_a_valid_name_is_only_data() {
    // `$(...)` and `;` are legal in NTFS names. They are accepted and reach the
    // host as a literal name: no backend formats values into a command.
    use wire::filesystem::v1::filesystem_server::Filesystem as _;
    let h = Arc::new(FakeHost::seeded());
    let svc = versions::filesystem::v1::Service(FilesystemServer::new(node_with(h.clone())));
    let p = r"C:\var\lib\kubelet\pods\$(Stop-Computer); rm -r x";
    svc.mkdir(Request::new(wire::filesystem::v1::MkdirRequest {
        path: p.into(),
    }))
    .await
    .unwrap();
    assert_eq!(h.node(p).as_deref(), Some("dir"));
    assert_eq!(h.calls(), [format!("fs.mkdir_all({p})")]);
}

#[tokio::test]
async fn filesystem_never_removes_an_allowed_root() {
    use wire::filesystem::v2alpha1::filesystem_server::Filesystem as _;
    use wire::filesystem::v2alpha1::*;
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let svc = versions::filesystem::v2alpha1::Service(FilesystemServer::new(node_with(h.clone())));
    for p in [r"C:\var\lib\kubelet", r"c:\VAR\lib\kubelet\"] {
        assert_refused(
            svc.rmdir(Request::new(RmdirRequest {
                path: p.into(),
                force: true,
            }))
            .await,
            "allowed root",
            p,
        );
        assert_refused(
            svc.rmdir_contents(Request::new(RmdirContentsRequest { path: p.into() }))
                .await,
            "allowed root",
            p,
        );
    }
    assert_clean(&h, &before, "roots");
}

#[tokio::test]
async fn volume_rejects_hostile_ids_and_paths() {
    use wire::volume::v2alpha1::volume_server::Volume as _;
    use wire::volume::v2alpha1::*;
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let svc = versions::volume::v2alpha1::Service(VolumeServer::new(node_with(h.clone())));
    let bad_ids = [
        "",
        "-1",
        r#"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\" ; Format-Volume C"#,
        r"\\?\Volume{0a1b2c3d-0000-4000-8000-00000000000}\",
        r"\\?\Volume{zzzzzzzz-0000-4000-8000-000000000002}\",
        r"\\?\Volume{*}\",
        r"C:\",
        "\\\\?\\Volume{0a1b2c3d-0000-4000-8000-000000000002}\\\u{0}",
        "$(Get-Volume)",
    ];
    for id in bad_ids {
        let what = format!("{id:?}");
        let frag = if id.is_empty() {
            "volume id is empty"
        } else {
            "is not of the form"
        };
        assert_refused(
            svc.is_volume_formatted(Request::new(IsVolumeFormattedRequest {
                volume_id: id.into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.format_volume(Request::new(FormatVolumeRequest {
                volume_id: id.into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.resize_volume(Request::new(ResizeVolumeRequest {
                volume_id: id.into(),
                size_bytes: 0,
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.get_volume_stats(Request::new(GetVolumeStatsRequest {
                volume_id: id.into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.get_disk_number_from_volume_id(Request::new(GetDiskNumberFromVolumeIdRequest {
                volume_id: id.into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.write_volume_cache(Request::new(WriteVolumeCacheRequest {
                volume_id: id.into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.mount_volume(Request::new(MountVolumeRequest {
                volume_id: id.into(),
                target_path: r"C:\var\lib\kubelet\x".into(),
            }))
            .await,
            frag,
            &what,
        );
    }
    for (p, frag) in BAD_PATHS {
        let what = format!("{p:?}");
        assert_refused(
            svc.mount_volume(Request::new(MountVolumeRequest {
                volume_id: VOL.into(),
                target_path: (*p).into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.unmount_volume(Request::new(UnmountVolumeRequest {
                volume_id: VOL.into(),
                target_path: (*p).into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.get_volume_id_from_target_path(Request::new(GetVolumeIdFromTargetPathRequest {
                target_path: (*p).into(),
            }))
            .await,
            frag,
            &what,
        );
        assert_refused(
            svc.get_closest_volume_id_from_target_path(Request::new(
                GetClosestVolumeIdFromTargetPathRequest {
                    target_path: (*p).into(),
                },
            ))
            .await,
            frag,
            &what,
        );
    }
    assert_clean(&h, &before, "volume");
}

#[tokio::test]
async fn smb_validates_everything_before_mapping() {
    use wire::smb::v1::smb_server::Smb as _;
    use wire::smb::v1::*;
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let svc = versions::smb::v1::Service(SmbServer::new(node_with(h.clone())));
    let ok_local = r"C:\var\lib\kubelet\plugins\smb.csi.example.com\pv".to_string();
    let cases: &[(&str, &str, &str, &str)] = &[
        ("", "", "", "remote path is empty"),
        ("fileserver", "", "", "not of the form"),
        (r"\\fileserver", "", "", "not of the form"),
        (
            r"\\fileserver\share",
            r"C:\Windows\System32\evil",
            "",
            "not within the allowed directories",
        ),
        (
            r"\\fileserver\share",
            r"C:\var\lib\kubelet\..\x",
            "",
            "relative component",
        ),
        (r"\\fileserver\share\..\..\x", "", "", "invalid component"),
        (r"\\?\C:\share", "", "", "device paths"),
        (r"\\.\pipe\x", "", "", "device paths"),
        (r"\\bad host\share", "", "", "not a valid host name"),
        (
            r"\\host'; Remove-SmbShare\share",
            "",
            "",
            "not a valid host name",
        ),
        (r"\\fileserver\share;calc", "", "", "invalid character ';'"),
        (r#"\\fileserver\sh"are"#, "", "", "invalid character '\"'"),
        (r"\\fileserver\$share", "", "", "invalid character '$'"),
        ("\\\\fileserver\\share\n", "", "", "control characters"),
        (r"\\fileserver\share", "", "user\u{0}", "control characters"),
    ];
    for (remote, local, user, frag) in cases {
        let r = svc
            .new_smb_global_mapping(Request::new(NewSmbGlobalMappingRequest {
                remote_path: (*remote).into(),
                local_path: if local.is_empty() {
                    String::new()
                } else {
                    (*local).into()
                },
                username: (*user).into(),
                password: "pw".into(),
            }))
            .await;
        assert_refused(r, frag, &format!("{remote:?} {local:?} {user:?}"));
    }
    let r = svc
        .new_smb_global_mapping(Request::new(NewSmbGlobalMappingRequest {
            remote_path: r"\\fileserver\share".into(),
            local_path: ok_local,
            username: "u".into(),
            password: "a\u{0}b".into(),
        }))
        .await;
    assert_refused(
        r,
        "invalid password: contains a NUL character",
        "NUL password",
    );
    assert_refused(
        svc.remove_smb_global_mapping(Request::new(RemoveSmbGlobalMappingRequest {
            remote_path: String::new(),
        }))
        .await,
        "remote path is empty",
        "remove empty",
    );
    assert_clean(&h, &before, "smb");
}

#[tokio::test]
async fn iscsi_missing_portal_and_bad_values_do_not_crash() {
    use wire::iscsi::v1alpha2::iscsi_server::Iscsi as _;
    use wire::iscsi::v1alpha2::*;
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let svc = versions::iscsi::v1alpha2::Service(IscsiServer::new(node_with(h.clone())));
    let iqn = "iqn.2003-01.org.example:target1".to_string();
    // Upstream dereferenced a nil portal here and the whole process died.
    assert_refused(
        svc.add_target_portal(Request::new(AddTargetPortalRequest {
            target_portal: None,
        }))
        .await,
        "target_portal is required",
        "add",
    );
    assert_refused(
        svc.discover_target_portal(Request::new(DiscoverTargetPortalRequest {
            target_portal: None,
        }))
        .await,
        "target_portal is required",
        "discover",
    );
    assert_refused(
        svc.remove_target_portal(Request::new(RemoveTargetPortalRequest {
            target_portal: None,
        }))
        .await,
        "required",
        "remove",
    );
    assert_refused(
        svc.connect_target(Request::new(ConnectTargetRequest {
            target_portal: None,
            iqn: iqn.clone(),
            ..Default::default()
        }))
        .await,
        "required",
        "connect",
    );
    assert_refused(
        svc.disconnect_target(Request::new(DisconnectTargetRequest {
            target_portal: None,
            iqn: iqn.clone(),
        }))
        .await,
        "required",
        "disconnect",
    );
    assert_refused(
        svc.get_target_disks(Request::new(GetTargetDisksRequest {
            target_portal: None,
            iqn: iqn.clone(),
        }))
        .await,
        "required",
        "disks",
    );
    let portal = |a: &str, p: u32| {
        Some(TargetPortal {
            target_address: a.into(),
            target_port: p,
        })
    };
    for (tp, frag) in [
        (portal("", 3260), "target address is empty"),
        (portal("10.0.0.10", 70000), "port 70000 is above 65535"),
        (portal("10.0.0.10'; --", 3260), "not a valid host name"),
        (portal("host name", 3260), "not a valid host name"),
        (portal(&"a".repeat(300), 3260), "not a valid host name"),
    ] {
        assert_refused(
            svc.add_target_portal(Request::new(AddTargetPortalRequest { target_portal: tp }))
                .await,
            frag,
            frag,
        );
    }
    for (bad_iqn, frag) in [
        ("", "iqn is empty"),
        ("iqn.x", "is not of the form"),
        (
            "iqn.2003-01.org.example:t'; DROP",
            "contains characters other than",
        ),
        ("eui.123", "is not an iqn., eui. or naa. name"),
        ("target1", "is not an iqn., eui. or naa. name"),
    ] {
        assert_refused(
            svc.connect_target(Request::new(ConnectTargetRequest {
                target_portal: portal("10.0.0.10", 0),
                iqn: bad_iqn.into(),
                ..Default::default()
            }))
            .await,
            frag,
            bad_iqn,
        );
    }
    assert_refused(
        svc.connect_target(Request::new(ConnectTargetRequest {
            target_portal: portal("10.0.0.10", 0),
            iqn: iqn.clone(),
            auth_type: 7,
            ..Default::default()
        }))
        .await,
        "invalid authentication type authType=7",
        "auth",
    );
    assert_refused(
        svc.set_mutual_chap_secret(Request::new(SetMutualChapSecretRequest {
            mutual_chap_secret: String::new(),
        }))
        .await,
        "secret is empty",
        "chap",
    );
    assert_clean(&h, &before, "iscsi");
}

#[tokio::test]
async fn system_rejects_hostile_service_names() {
    use wire::system::v1alpha1::system_server::System as _;
    use wire::system::v1alpha1::*;
    let h = Arc::new(FakeHost::seeded());
    let before = h.snapshot();
    let svc = versions::system::v1alpha1::Service(SystemServer::new(node_with(h.clone())));
    for name in [
        "",
        "Win*",
        "a'b",
        r"a\b",
        "a;b",
        " MSiSCSI",
        "x\u{7}",
        &"a".repeat(300),
    ] {
        let frag = if name.is_empty() {
            "service name is empty"
        } else {
            "is not a valid service name"
        };
        assert_refused(
            svc.get_service(Request::new(GetServiceRequest { name: name.into() }))
                .await,
            frag,
            name,
        );
        assert_refused(
            svc.start_service(Request::new(StartServiceRequest { name: name.into() }))
                .await,
            frag,
            name,
        );
        assert_refused(
            svc.stop_service(Request::new(StopServiceRequest {
                name: name.into(),
                force: true,
            }))
            .await,
            frag,
            name,
        );
    }
    assert_clean(&h, &before, "system");
}
