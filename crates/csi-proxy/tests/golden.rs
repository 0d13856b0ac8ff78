//! Golden tests: request → exact host-call sequence → response or status, per
//! RPC and version, through the versioned adapters over the in-memory host.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::sync::Arc;

use common::node_with;
use tonic::{Code, Request};
use winkube_csi_proxy::core::disk::DiskServer;
use winkube_csi_proxy::core::filesystem::FilesystemServer;
use winkube_csi_proxy::core::iscsi::IscsiServer;
use winkube_csi_proxy::core::smb::SmbServer;
use winkube_csi_proxy::core::system::SystemServer;
use winkube_csi_proxy::core::volume::VolumeServer;
use winkube_csi_proxy::host::fake::FakeHost;
use winkube_csi_proxy::versions;
use winkube_csi_proxy::wire;

const DATA_VOL: &str = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\";
const C_VOL: &str = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000001}\";
const MOUNT: &str = r"C:\var\lib\kubelet\plugins\disk.csi.example.com\pv-1\globalmount";

fn host() -> Arc<FakeHost> {
    Arc::new(FakeHost::seeded())
}

fn calls(h: &FakeHost) -> Vec<String> {
    h.calls()
}

// ------------------------------------------------------------------ disk

#[tokio::test]
async fn disk_partition_raw_disk_all_versions() {
    use wire::disk::v1::disk_server::Disk as _;
    let h = host();
    let svc = versions::disk::v1::Service(DiskServer::new(node_with(h.clone())));
    // Disk 2 is RAW (and offline in the seed): bring it online first.
    svc.set_disk_state(Request::new(wire::disk::v1::SetDiskStateRequest {
        disk_number: 2,
        is_online: true,
    }))
    .await
    .unwrap();
    assert_eq!(calls(&h), ["disk.is_online(2)", "disk.set_online(2, true)"]);
    h.clear_calls();
    svc.partition_disk(Request::new(wire::disk::v1::PartitionDiskRequest {
        disk_number: 2,
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        [
            "disk.is_initialized(2)",
            "disk.initialize(2)",
            "disk.basic_partitions_exist(2)",
            "disk.create_basic_partition(2)"
        ]
    );
    // Idempotent: a second call only checks.
    h.clear_calls();
    let old = versions::disk::v1alpha1::Service(DiskServer::new(node_with(h.clone())));
    wire::disk::v1alpha1::disk_server::Disk::partition_disk(
        &old,
        Request::new(wire::disk::v1alpha1::PartitionDiskRequest {
            disk_id: "2".into(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        ["disk.is_initialized(2)", "disk.basic_partitions_exist(2)"]
    );
}

#[tokio::test]
async fn disk_set_state_does_nothing_when_already_in_state() {
    use wire::disk::v1beta2::disk_server::Disk as _;
    let h = host();
    let svc = versions::disk::v1beta2::Service(DiskServer::new(node_with(h.clone())));
    svc.set_attach_state(Request::new(wire::disk::v1beta2::SetAttachStateRequest {
        disk_id: "1".into(),
        is_online: true,
    }))
    .await
    .unwrap();
    assert_eq!(calls(&h), ["disk.is_online(1)"]);
}

#[tokio::test]
async fn disk_old_version_ids_that_do_not_fit_are_refused_not_truncated() {
    use wire::disk::v1beta1::disk_server::Disk as _;
    let h = host();
    let svc = versions::disk::v1beta1::Service(DiskServer::new(node_with(h.clone())));
    for bad in ["4294967297", "-1", "", "1 ", "0x1", "१"] {
        let e = svc
            .disk_stats(Request::new(wire::disk::v1beta1::DiskStatsRequest {
                disk_id: bad.into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unknown, "{bad:?}");
        assert!(
            e.message()
                .starts_with("failed to convert DiskStatsRequest.diskID"),
            "{}",
            e.message()
        );
    }
    assert!(calls(&h).is_empty());
}

#[tokio::test]
async fn disk_list_conversions_per_version() {
    let h = host();
    let core = DiskServer::new(node_with(h.clone()));
    let ids = core.list_disk_ids().unwrap();
    let b1 = versions::disk::v1beta1::ids_response(ids.clone());
    assert_eq!(
        b1.disk_i_ds["1"].identifiers["page83"],
        "6002248071a36bd8c2f8a6b4e1a0f002"
    );
    assert_eq!(b1.disk_i_ds["1"].identifiers["serialNumber"], "DATA-DISK-1");
    assert_eq!(b1.disk_i_ds["1"].identifiers.len(), 2);
    let locs = core.list_disk_locations().unwrap();
    let a1 = versions::disk::v1alpha1::locations_response(locs.clone());
    assert_eq!(
        a1.disk_locations.keys().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert_eq!(a1.disk_locations["2"].lunid, "2");
    assert_eq!(a1.disk_locations["1"].adapter, "1");
    assert_eq!(
        versions::disk::v1::location(locs.disk_locations[&1].clone()).target,
        "0"
    );
}

#[tokio::test]
async fn disk_get_number_by_name_not_found_message() {
    use wire::disk::v1alpha1::disk_server::Disk as _;
    let h = host();
    let svc = versions::disk::v1alpha1::Service(DiskServer::new(node_with(h.clone())));
    let e = svc
        .get_disk_number_by_name(Request::new(
            wire::disk::v1alpha1::GetDiskNumberByNameRequest {
                disk_name: "nope".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "could not find disk with Page83 ID nope: not found"
    );
    assert_eq!(calls(&h), ["disk.list_ids()"]);
}

#[tokio::test]
async fn disk_host_errors_pass_through_as_unknown() {
    use wire::disk::v1::disk_server::Disk as _;
    let h = host();
    h.fail_on("disk.rescan", "Update-HostStorageCache failed");
    let svc = versions::disk::v1::Service(DiskServer::new(node_with(h.clone())));
    let e = svc
        .rescan(Request::new(wire::disk::v1::RescanRequest {}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unknown, "Update-HostStorageCache failed")
    );
}

// ------------------------------------------------------------------ volume

#[tokio::test]
async fn volume_mount_unmount_and_idempotency_v1() {
    use wire::volume::v1::volume_server::Volume as _;
    use wire::volume::v1::*;
    let h = host();
    let target = r"C:\var\lib\kubelet\pods\p1\volumes\v";
    h.add_dir(&winkube_csi_proxy::validate::parse_drive_path("t", target).unwrap());
    // The data volume is already mounted at its globalmount in the seed: this
    // test is about the call sequence, so the node allows a second mount point.
    let node = common::node_with_policy(h.clone(), |p| p.allow_remount = true);
    let svc = versions::volume::v1::Service(VolumeServer::new(node));
    // Mount the C: volume's sibling: a fresh volume made by partitioning disk 2.
    svc.mount_volume(Request::new(MountVolumeRequest {
        volume_id: DATA_VOL.into(),
        target_path: target.into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        [
            format!("fs.read_link({target})"),
            format!("volume.mount({DATA_VOL}, {target})")
        ]
    );
    h.clear_calls();
    // Already mounted there: success without a second mount.
    svc.mount_volume(Request::new(MountVolumeRequest {
        volume_id: DATA_VOL.into(),
        target_path: target.into(),
    }))
    .await
    .unwrap();
    assert_eq!(calls(&h), [format!("fs.read_link({target})")]);
    h.clear_calls();
    svc.unmount_volume(Request::new(UnmountVolumeRequest {
        volume_id: DATA_VOL.into(),
        target_path: target.into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        [
            format!("fs.read_link({target})"),
            format!("volume.flush({DATA_VOL})"),
            format!("volume.unmount({target})")
        ]
    );
    assert_eq!(h.node(target).as_deref(), Some("dir"));
}

#[tokio::test]
async fn volume_unmount_refuses_another_volumes_mount_point() {
    use wire::volume::v1alpha1::volume_server::Volume as _;
    let h = host();
    let svc = versions::volume::v1alpha1::Service(VolumeServer::new(node_with(h.clone())));
    let e = svc
        .dismount_volume(Request::new(
            wire::volume::v1alpha1::DismountVolumeRequest {
                volume_id: C_VOL.into(),
                path: MOUNT.into(),
            },
        ))
        .await
        .unwrap_err();
    assert!(
        e.message().contains("is a mount point of"),
        "{}",
        e.message()
    );
    assert_eq!(calls(&h), [format!("fs.read_link({MOUNT})")]);
    assert!(h.node(MOUNT).unwrap().starts_with("mount:"));
}

#[tokio::test]
async fn volume_resize_rules() {
    use wire::volume::v1::ResizeVolumeRequest;
    use wire::volume::v1::volume_server::Volume as _;
    let h = host();
    let svc = versions::volume::v1::Service(VolumeServer::new(node_with(h.clone())));
    let gib: i64 = 1 << 30;
    // Shrink request and a step under 100 MiB: skipped after the size query.
    for size in [4 * gib, 8 * gib + (50 << 20)] {
        h.clear_calls();
        svc.resize_volume(Request::new(ResizeVolumeRequest {
            volume_id: DATA_VOL.into(),
            size_bytes: size,
        }))
        .await
        .unwrap();
        assert_eq!(
            calls(&h),
            [format!("volume.partition_size({DATA_VOL})")],
            "size {size}"
        );
    }
    // 0 means the maximum.
    h.clear_calls();
    svc.resize_volume(Request::new(ResizeVolumeRequest {
        volume_id: DATA_VOL.into(),
        size_bytes: 0,
    }))
    .await
    .unwrap();
    let max = (10u64 << 30) - (1 << 20);
    assert_eq!(
        calls(&h),
        [
            format!("volume.partition_size({DATA_VOL})"),
            format!("volume.resize_partition({DATA_VOL}, {max})")
        ]
    );
    // Negative: refused before the host.
    h.clear_calls();
    let e = svc
        .resize_volume(Request::new(ResizeVolumeRequest {
            volume_id: DATA_VOL.into(),
            size_bytes: -1,
        }))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "invalid size_bytes: invalid negative size -1");
    assert!(calls(&h).is_empty());
}

#[tokio::test]
async fn volume_old_names_forward_to_new_calls() {
    use wire::volume::v1beta2::volume_server::Volume as _;
    use wire::volume::v1beta2::*;
    let h = host();
    let svc = versions::volume::v1beta2::Service(VolumeServer::new(node_with(h.clone())));
    let r = svc
        .get_volume_id_from_mount(Request::new(VolumeIdFromMountRequest {
            mount: MOUNT.into(),
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().volume_id, DATA_VOL);
    let r = svc
        .list_volumes_on_disk(Request::new(ListVolumesOnDiskRequest {
            disk_id: "0".into(),
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().volume_ids, vec![C_VOL.to_string()]);
    svc.write_volume_cache(Request::new(WriteVolumeCacheRequest {
        volume_id: DATA_VOL.into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        [
            format!("fs.read_link({MOUNT})"),
            "volume.list_on_disk(0, None)".to_string(),
            format!("volume.flush({DATA_VOL})")
        ]
    );
    let req = versions::volume::v1alpha1::list_request(
        wire::volume::v1alpha1::ListVolumesOnDiskRequest {
            disk_id: "7".into(),
        },
    )
    .unwrap();
    assert_eq!((req.disk_number, req.partition_number), (7, 0));
}

#[tokio::test]
async fn volume_list_empty_disk_is_an_empty_list() {
    use wire::volume::v1::volume_server::Volume as _;
    let h = host();
    let svc = versions::volume::v1::Service(VolumeServer::new(node_with(h.clone())));
    let r = svc
        .list_volumes_on_disk(Request::new(wire::volume::v1::ListVolumesOnDiskRequest {
            disk_number: 2,
            partition_number: 0,
        }))
        .await
        .unwrap();
    assert!(
        r.into_inner().volume_ids.is_empty(),
        "master behaviour: no [\"\"]"
    );
    let r = svc
        .list_volumes_on_disk(Request::new(wire::volume::v1::ListVolumesOnDiskRequest {
            disk_number: 0,
            partition_number: 2,
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().volume_ids, vec![C_VOL.to_string()]);
    assert_eq!(calls(&h)[1], "volume.list_on_disk(0, Some(2))");
}

#[tokio::test]
async fn volume_closest_follows_links_and_falls_back_to_the_drive() {
    use wire::volume::v2alpha1::GetClosestVolumeIdFromTargetPathRequest as Req;
    use wire::volume::v2alpha1::volume_server::Volume as _;
    let h = host();
    let pod =
        winkube_csi_proxy::validate::parse_drive_path("p", r"C:\var\lib\kubelet\pods\p1\volumes\x")
            .unwrap();
    h.add_dir(&pod.parent().unwrap());
    winkube_csi_proxy::host::FilesystemHost::create_symlink(
        h.as_ref(),
        &winkube_csi_proxy::validate::parse_drive_path("m", MOUNT).unwrap(),
        &pod,
    )
    .unwrap();
    let svc = versions::volume::v2alpha1::Service(VolumeServer::new(node_with(h.clone())));
    let r = svc
        .get_closest_volume_id_from_target_path(Request::new(Req {
            target_path: pod.to_string(),
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().volume_id, DATA_VOL);
    let r = svc
        .get_closest_volume_id_from_target_path(Request::new(Req {
            target_path: MOUNT.into(),
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().volume_id, DATA_VOL);
    h.clear_calls();
    let r = svc
        .get_closest_volume_id_from_target_path(Request::new(Req {
            target_path: r"C:\var\lib\kubelet".into(),
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().volume_id, C_VOL);
    assert_eq!(calls(&h).last().unwrap(), "volume.drive_volume(C)");
}

// ------------------------------------------------------------------ filesystem

#[tokio::test]
async fn filesystem_v2alpha1_calls() {
    use wire::filesystem::v2alpha1::filesystem_server::Filesystem as _;
    use wire::filesystem::v2alpha1::*;
    let h = host();
    let svc = versions::filesystem::v2alpha1::Service(FilesystemServer::new(node_with(h.clone())));
    let dir = r"C:\var\lib\kubelet\pods\p1\volumes\v1";
    svc.mkdir(Request::new(MkdirRequest { path: dir.into() }))
        .await
        .unwrap();
    svc.mkdir(Request::new(MkdirRequest {
        path: format!(r"{dir}\a\b"),
    }))
    .await
    .unwrap();
    let link = r"C:\var\lib\kubelet\pods\p1\volumes\link";
    svc.create_symlink(Request::new(CreateSymlinkRequest {
        source_path: dir.into(),
        target_path: link.into(),
    }))
    .await
    .unwrap();
    let r = svc
        .is_symlink(Request::new(IsSymlinkRequest { path: link.into() }))
        .await
        .unwrap();
    assert!(r.into_inner().is_symlink);
    let r = svc
        .is_symlink(Request::new(IsSymlinkRequest { path: dir.into() }))
        .await
        .unwrap();
    assert!(!r.into_inner().is_symlink);
    // Contents go, the directory stays, and the link's target survives removing the link.
    svc.rmdir_contents(Request::new(RmdirContentsRequest { path: dir.into() }))
        .await
        .unwrap();
    assert_eq!(h.node(dir).as_deref(), Some("dir"));
    assert_eq!(h.node(&format!(r"{dir}\a")), None);
    svc.rmdir(Request::new(RmdirRequest {
        path: link.into(),
        force: true,
    }))
    .await
    .unwrap();
    assert_eq!(h.node(dir).as_deref(), Some("dir"));
    // Dangling link: not a symlink "whose target exists".
    svc.create_symlink(Request::new(CreateSymlinkRequest {
        source_path: format!(r"{dir}\gone"),
        target_path: link.into(),
    }))
    .await
    .unwrap();
    let r = svc
        .is_symlink(Request::new(IsSymlinkRequest { path: link.into() }))
        .await
        .unwrap();
    assert!(!r.into_inner().is_symlink);
    // Missing path: an error, like upstream.
    let e = svc
        .is_symlink(Request::new(IsSymlinkRequest {
            path: format!(r"{dir}\none"),
        }))
        .await
        .unwrap_err();
    assert!(e.message().ends_with("not found"), "{}", e.message());
    // Non-recursive rmdir of a non-empty directory fails.
    svc.mkdir(Request::new(MkdirRequest {
        path: format!(r"{dir}\c"),
    }))
    .await
    .unwrap();
    let e = svc
        .rmdir(Request::new(RmdirRequest {
            path: dir.into(),
            force: false,
        }))
        .await
        .unwrap_err();
    assert!(e.message().contains("not empty"), "{}", e.message());
    assert_eq!(
        &calls(&h)[..3],
        [
            format!("fs.mkdir_all({dir})"),
            format!(r"fs.mkdir_all({dir}\a\b)"),
            format!("fs.symlink({dir} <- {link})")
        ]
    );
}

#[tokio::test]
async fn filesystem_old_versions_forward_and_keep_error_empty() {
    use wire::filesystem::v1alpha1::filesystem_server::Filesystem as _;
    use wire::filesystem::v1alpha1::*;
    let h = host();
    let svc = versions::filesystem::v1alpha1::Service(FilesystemServer::new(node_with(h.clone())));
    let link = r"C:\var\lib\kubelet\pods\l";
    let r = svc
        .link_path(Request::new(LinkPathRequest {
            source_path: MOUNT.into(),
            target_path: link.into(),
        }))
        .await
        .unwrap();
    assert!(r.into_inner().error.is_empty());
    let r = svc
        .is_mount_point(Request::new(IsMountPointRequest { path: link.into() }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.is_mount_point);
    assert_eq!(calls(&h)[0], format!("fs.symlink({MOUNT} <- {link})"));
    // Context is converted, not dropped, and does not change the rules.
    let req = versions::filesystem::v1alpha1::path_exists_request(PathExistsRequest {
        path: "x".into(),
        context: 1,
    });
    assert_eq!(
        req.context,
        winkube_csi_proxy::core::filesystem::PathContext::Pod
    );
    assert_eq!(
        versions::filesystem::context(7),
        winkube_csi_proxy::core::filesystem::PathContext::Other(7)
    );
    let e = svc
        .path_exists(Request::new(PathExistsRequest {
            path: r"C:\Windows".into(),
            context: PathContext::Pod as i32,
        }))
        .await
        .unwrap_err();
    assert!(e.message().contains("not within the allowed directories"));
}

// ------------------------------------------------------------------ smb

#[tokio::test]
async fn smb_new_mapping_with_link_then_remove() {
    use wire::smb::v1::smb_server::Smb as _;
    use wire::smb::v1::*;
    let h = host();
    h.add_share(r"\\files.example.com\data$", Some(("EXAMPLE\\u", "pw")));
    let svc = versions::smb::v1::Service(SmbServer::new(node_with(h.clone())));
    let local = r"C:\var\lib\kubelet\plugins\smb.csi.example.com\pv";
    svc.new_smb_global_mapping(Request::new(NewSmbGlobalMappingRequest {
        remote_path: "//files.example.com/data$/sub/dir".into(),
        local_path: local.into(),
        username: "EXAMPLE\\u".into(),
        password: "pw".into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        [
            r"smb.is_mapped(\\files.example.com\data$)",
            r#"smb.create_mapping(\\files.example.com\data$, user=Some("EXAMPLE\\u"), require_privacy=true)"#,
            r"smb.create_link(\\files.example.com\data$\sub\dir <- C:\var\lib\kubelet\plugins\smb.csi.example.com\pv)",
        ]
    );
    assert_eq!(
        h.node(local).as_deref(),
        Some(r"link:\\files.example.com\data$\sub\dir")
    );
    assert!(
        !format!("{:?}", h.calls()).contains("pw\""),
        "password never recorded"
    );
    h.clear_calls();
    svc.remove_smb_global_mapping(Request::new(RemoveSmbGlobalMappingRequest {
        remote_path: r"\\files.example.com\data$\sub".into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        [r"smb.remove_mapping(\\files.example.com\data$)"]
    );
}

#[tokio::test]
async fn smb_stale_mapping_is_recreated_and_valid_one_reused() {
    use wire::smb::v1beta1::NewSmbGlobalMappingRequest as Req;
    use wire::smb::v1beta1::smb_server::Smb as _;
    let h = host();
    let svc = versions::smb::v1beta1::Service(SmbServer::new(node_with(h.clone())));
    let req = || Req {
        remote_path: r"\\fileserver\share\x".into(),
        username: "EXAMPLE\\smbuser".into(),
        password: "s3cret".into(),
        ..Default::default()
    };
    svc.new_smb_global_mapping(Request::new(req()))
        .await
        .unwrap();
    assert_eq!(
        calls(&h),
        [
            r"smb.is_mapped(\\fileserver\share)",
            r"smb.is_path_valid(\\fileserver\share)"
        ]
    );
    h.clear_calls();
    h.invalidate_mapping(r"\\fileserver\share");
    svc.new_smb_global_mapping(Request::new(req()))
        .await
        .unwrap();
    assert_eq!(
        calls(&h),
        [
            r"smb.is_mapped(\\fileserver\share)",
            r"smb.is_path_valid(\\fileserver\share)",
            r"smb.remove_mapping(\\fileserver\share)",
            r#"smb.create_mapping(\\fileserver\share, user=Some("EXAMPLE\\smbuser"), require_privacy=true)"#,
        ]
    );
    // Wrong password: the host's error comes back.
    h.clear_calls();
    h.invalidate_mapping(r"\\fileserver\share");
    let e = svc
        .new_smb_global_mapping(Request::new(Req {
            password: "wrong".into(),
            ..req()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "Access is denied.");
}

// ------------------------------------------------------------------ iscsi

#[tokio::test]
async fn iscsi_connect_disks_disconnect() {
    use wire::iscsi::v1alpha2::iscsi_server::Iscsi as _;
    use wire::iscsi::v1alpha2::*;
    let h = host();
    let svc = versions::iscsi::v1alpha2::Service(IscsiServer::new(node_with(h.clone())));
    let tp = || {
        Some(TargetPortal {
            target_address: "10.0.0.10".into(),
            target_port: 0,
        })
    };
    let iqn = "iqn.2003-01.org.example:target1".to_string();
    // Not connected: no disks, no error.
    let r = svc
        .get_target_disks(Request::new(GetTargetDisksRequest {
            target_portal: tp(),
            iqn: iqn.clone(),
        }))
        .await
        .unwrap();
    assert!(r.into_inner().disk_i_ds.is_empty());
    svc.connect_target(Request::new(ConnectTargetRequest {
        target_portal: tp(),
        iqn: iqn.clone(),
        ..Default::default()
    }))
    .await
    .unwrap();
    let r = svc
        .get_target_disks(Request::new(GetTargetDisksRequest {
            target_portal: tp(),
            iqn: iqn.clone(),
        }))
        .await
        .unwrap();
    assert_eq!(r.into_inner().disk_i_ds, vec!["3".to_string()]);
    // Connecting again is a no-op.
    h.clear_calls();
    svc.connect_target(Request::new(ConnectTargetRequest {
        target_portal: tp(),
        iqn: iqn.clone(),
        ..Default::default()
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h),
        ["iscsi.is_connected(10.0.0.10:3260, iqn.2003-01.org.example:target1)"]
    );
    svc.disconnect_target(Request::new(DisconnectTargetRequest {
        target_portal: tp(),
        iqn: iqn.clone(),
    }))
    .await
    .unwrap();
    h.clear_calls();
    svc.disconnect_target(Request::new(DisconnectTargetRequest {
        target_portal: tp(),
        iqn,
    }))
    .await
    .unwrap();
    assert_eq!(calls(&h).len(), 1, "already disconnected: only the check");
    svc.set_mutual_chap_secret(Request::new(SetMutualChapSecretRequest {
        mutual_chap_secret: "0123456789ab".into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        calls(&h).last().unwrap(),
        "iscsi.set_mutual_chap_secret(<redacted>)"
    );
}

#[tokio::test]
async fn iscsi_portal_list_conversion_and_chap() {
    use wire::iscsi::v1alpha1::iscsi_server::Iscsi as _;
    use wire::iscsi::v1alpha1::*;
    let h = host();
    let p = winkube_csi_proxy::validate::Portal::new("san.example.com", 3261).unwrap();
    let q = winkube_csi_proxy::validate::Iqn::parse("i", "iqn.2020-01.com.example:secure").unwrap();
    h.add_remote_target(&p, &q, vec![4], Some(("user", "secretsecret")));
    let svc = versions::iscsi::v1alpha1::Service(IscsiServer::new(node_with(h.clone())));
    let tp = || {
        Some(TargetPortal {
            target_address: "san.example.com".into(),
            target_port: 3261,
        })
    };
    svc.add_target_portal(Request::new(AddTargetPortalRequest {
        target_portal: tp(),
    }))
    .await
    .unwrap();
    let list = svc
        .list_target_portals(Request::new(ListTargetPortalsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.target_portals.len(), 2);
    assert!(list.target_portals.contains(&TargetPortal {
        target_address: "san.example.com".into(),
        target_port: 3261
    }));
    let e = svc
        .connect_target(Request::new(ConnectTargetRequest {
            target_portal: tp(),
            iqn: q.as_str().into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "Authentication Failure.");
    svc.connect_target(Request::new(ConnectTargetRequest {
        target_portal: tp(),
        iqn: q.as_str().into(),
        auth_type: AuthenticationType::OneWayChap as i32,
        chap_username: "user".into(),
        chap_secret: "secretsecret".into(),
    }))
    .await
    .unwrap();
    assert!(
        calls(&h)
            .iter()
            .any(|c| c.contains("OneWayChap") && !c.contains("secretsecret"))
    );
    assert!(
        versions::iscsi::v1alpha1::portals_response(vec![])
            .target_portals
            .is_empty()
    );
}

// ------------------------------------------------------------------ system

#[tokio::test]
async fn system_services() {
    use wire::system::v1alpha1::system_server::System as _;
    use wire::system::v1alpha1::*;
    let h = host();
    let svc = versions::system::v1alpha1::Service(SystemServer::new(node_with(h.clone())));
    svc.start_service(Request::new(StartServiceRequest {
        name: "msiscsi".into(),
    }))
    .await
    .unwrap();
    let r = svc
        .get_service(Request::new(GetServiceRequest {
            name: "MSiSCSI".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.status, r.start_type),
        (ServiceStatus::Running as i32, StartType::Manual as i32)
    );
    assert_eq!(r.display_name, "Microsoft iSCSI Initiator Service");
    svc.stop_service(Request::new(StopServiceRequest {
        name: "MSiSCSI".into(),
        force: false,
    }))
    .await
    .unwrap();
    // Not allow-listed: refused before the host.
    h.clear_calls();
    let e = svc
        .stop_service(Request::new(StopServiceRequest {
            name: "Winmgmt".into(),
            force: true,
        }))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "permission denied: service Winmgmt is not in the allowed services (--allowed-service)"
    );
    assert!(calls(&h).is_empty());
    let e = svc
        .get_service(Request::new(GetServiceRequest {
            name: "nosuch".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "service nosuch not found");
}
