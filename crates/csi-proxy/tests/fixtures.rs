//! Protobuf byte fixtures: field numbers and wire types written down from the
//! kubernetes-csi/csi-proxy specification, encoded by a tiny independent
//! encoder here, and checked in both directions against the prost types. A
//! renumbered or retyped field in `proto/` fails these tests.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::BTreeMap;

use prost::Message;
use winkube_csi_proxy::wire;

/// One encoded field: number and value.
enum F {
    /// varint (uint32, int64, bool, enum)
    V(u32, u64),
    /// length-delimited bytes (string, message, map entry)
    L(u32, Vec<u8>),
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn enc(fields: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        match f {
            F::V(n, v) => {
                varint(u64::from(*n) << 3, &mut out);
                varint(*v, &mut out);
            }
            F::L(n, b) => {
                varint((u64::from(*n) << 3) | 2, &mut out);
                varint(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

fn s(n: u32, v: &str) -> F {
    F::L(n, v.as_bytes().to_vec())
}

/// Asserts that `msg` encodes to exactly `fields` and that those bytes decode back to `msg`.
fn check<M: Message + Default + PartialEq + std::fmt::Debug>(msg: M, fields: &[F]) {
    let bytes = enc(fields);
    assert_eq!(msg.encode_to_vec(), bytes, "encoding of {msg:?}");
    assert_eq!(M::decode(bytes.as_slice()).unwrap(), msg);
}

#[test]
fn disk_v1_and_v1beta3() {
    macro_rules! same {
        ($v:ident) => {{
            use wire::disk::$v::*;
            let loc = DiskLocation {
                adapter: "a".into(),
                bus: "b".into(),
                target: "t".into(),
                lunid: "l".into(),
            };
            let loc_bytes = enc(&[s(1, "a"), s(2, "b"), s(3, "t"), s(4, "l")]);
            check(loc.clone(), &[s(1, "a"), s(2, "b"), s(3, "t"), s(4, "l")]);
            check(
                ListDiskLocationsResponse {
                    disk_locations: BTreeMap::from([(7, loc)]),
                },
                &[F::L(1, enc(&[F::V(1, 7), F::L(2, loc_bytes)]))],
            );
            check(PartitionDiskRequest { disk_number: 300 }, &[F::V(1, 300)]);
            let ids = DiskIDs {
                page83: "p".into(),
                serial_number: "s".into(),
            };
            check(ids.clone(), &[s(1, "p"), s(2, "s")]);
            check(
                ListDiskIDsResponse {
                    disk_i_ds: BTreeMap::from([(2, ids)]),
                },
                &[F::L(
                    1,
                    enc(&[F::V(1, 2), F::L(2, enc(&[s(1, "p"), s(2, "s")]))]),
                )],
            );
            check(GetDiskStatsRequest { disk_number: 3 }, &[F::V(1, 3)]);
            check(
                GetDiskStatsResponse {
                    total_bytes: 1 << 40,
                },
                &[F::V(1, 1 << 40)],
            );
            check(
                SetDiskStateRequest {
                    disk_number: 4,
                    is_online: true,
                },
                &[F::V(1, 4), F::V(2, 1)],
            );
            check(GetDiskStateRequest { disk_number: 5 }, &[F::V(1, 5)]);
            check(GetDiskStateResponse { is_online: true }, &[F::V(1, 1)]);
        }};
    }
    same!(v1);
    same!(v1beta3);
}

#[test]
fn disk_old_versions() {
    macro_rules! common {
        ($v:ident) => {{
            use wire::disk::$v::*;
            check(
                PartitionDiskRequest {
                    disk_id: "12".into(),
                },
                &[s(1, "12")],
            );
            let loc = DiskLocation {
                adapter: "0".into(),
                bus: String::new(),
                target: "1".into(),
                lunid: "2".into(),
            };
            check(
                ListDiskLocationsResponse {
                    disk_locations: BTreeMap::from([("3".to_string(), loc)]),
                },
                &[F::L(
                    1,
                    enc(&[s(1, "3"), F::L(2, enc(&[s(1, "0"), s(3, "1"), s(4, "2")]))]),
                )],
            );
        }};
    }
    common!(v1alpha1);
    common!(v1beta1);
    common!(v1beta2);
    {
        use wire::disk::v1alpha1::*;
        check(
            GetDiskNumberByNameRequest {
                disk_name: "n".into(),
            },
            &[s(1, "n")],
        );
        check(
            GetDiskNumberByNameResponse {
                disk_number: "9".into(),
            },
            &[s(1, "9")],
        );
    }
    macro_rules! beta {
        ($v:ident) => {{
            use wire::disk::$v::*;
            let ids = DiskIDs {
                identifiers: BTreeMap::from([("page83".to_string(), "x".to_string())]),
            };
            check(
                ListDiskIDsResponse {
                    disk_i_ds: BTreeMap::from([("1".to_string(), ids)]),
                },
                &[F::L(
                    1,
                    enc(&[
                        s(1, "1"),
                        F::L(2, enc(&[F::L(1, enc(&[s(1, "page83"), s(2, "x")]))])),
                    ]),
                )],
            );
            check(
                DiskStatsRequest {
                    disk_id: "1".into(),
                },
                &[s(1, "1")],
            );
            check(DiskStatsResponse { disk_size: 42 }, &[F::V(1, 42)]);
        }};
    }
    beta!(v1beta1);
    beta!(v1beta2);
    use wire::disk::v1beta2::*;
    check(
        SetAttachStateRequest {
            disk_id: "1".into(),
            is_online: true,
        },
        &[s(1, "1"), F::V(2, 1)],
    );
    check(
        GetAttachStateRequest {
            disk_id: "1".into(),
        },
        &[s(1, "1")],
    );
    check(GetAttachStateResponse { is_online: true }, &[F::V(1, 1)]);
}

#[test]
fn volume_v1_v1beta3_v2alpha1() {
    macro_rules! same {
        ($v:ident) => {{
            use wire::volume::$v::*;
            check(
                ListVolumesOnDiskRequest {
                    disk_number: 1,
                    partition_number: 2,
                },
                &[F::V(1, 1), F::V(2, 2)],
            );
            check(
                ListVolumesOnDiskResponse {
                    volume_ids: vec!["a".into(), "b".into()],
                },
                &[s(1, "a"), s(1, "b")],
            );
            check(
                MountVolumeRequest {
                    volume_id: "v".into(),
                    target_path: "t".into(),
                },
                &[s(1, "v"), s(2, "t")],
            );
            check(
                UnmountVolumeRequest {
                    volume_id: "v".into(),
                    target_path: "t".into(),
                },
                &[s(1, "v"), s(2, "t")],
            );
            check(
                IsVolumeFormattedRequest {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
            check(IsVolumeFormattedResponse { formatted: true }, &[F::V(1, 1)]);
            check(
                FormatVolumeRequest {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
            check(
                ResizeVolumeRequest {
                    volume_id: "v".into(),
                    size_bytes: 5,
                },
                &[s(1, "v"), F::V(2, 5)],
            );
            check(
                GetVolumeStatsRequest {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
            check(
                GetVolumeStatsResponse {
                    total_bytes: 10,
                    used_bytes: 3,
                },
                &[F::V(1, 10), F::V(2, 3)],
            );
            check(
                GetDiskNumberFromVolumeIdRequest {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
            check(
                GetDiskNumberFromVolumeIdResponse { disk_number: 6 },
                &[F::V(1, 6)],
            );
            check(
                GetVolumeIdFromTargetPathRequest {
                    target_path: "t".into(),
                },
                &[s(1, "t")],
            );
            check(
                GetVolumeIdFromTargetPathResponse {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
            check(
                WriteVolumeCacheRequest {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
        }};
    }
    same!(v1);
    same!(v1beta3);
    same!(v2alpha1);
    use wire::volume::v2alpha1::*;
    check(
        GetClosestVolumeIdFromTargetPathRequest {
            target_path: "t".into(),
        },
        &[s(1, "t")],
    );
    check(
        GetClosestVolumeIdFromTargetPathResponse {
            volume_id: "v".into(),
        },
        &[s(1, "v")],
    );
}

#[test]
fn volume_old_versions() {
    macro_rules! alpha {
        ($v:ident) => {{
            use wire::volume::$v::*;
            check(
                ListVolumesOnDiskRequest {
                    disk_id: "1".into(),
                },
                &[s(1, "1")],
            );
            check(
                MountVolumeRequest {
                    volume_id: "v".into(),
                    path: "p".into(),
                },
                &[s(1, "v"), s(2, "p")],
            );
            check(
                DismountVolumeRequest {
                    volume_id: "v".into(),
                    path: "p".into(),
                },
                &[s(1, "v"), s(2, "p")],
            );
            check(
                ResizeVolumeRequest {
                    volume_id: "v".into(),
                    size: 9,
                },
                &[s(1, "v"), F::V(2, 9)],
            );
        }};
    }
    alpha!(v1alpha1);
    alpha!(v1beta1);
    alpha!(v1beta2);
    macro_rules! beta {
        ($v:ident) => {{
            use wire::volume::$v::*;
            check(
                VolumeStatsResponse {
                    volume_size: 8,
                    volume_used_size: 2,
                },
                &[F::V(1, 8), F::V(2, 2)],
            );
            check(VolumeDiskNumberResponse { disk_number: 3 }, &[F::V(1, 3)]);
            check(VolumeIdFromMountRequest { mount: "m".into() }, &[s(1, "m")]);
            check(
                VolumeIdFromMountResponse {
                    volume_id: "v".into(),
                },
                &[s(1, "v")],
            );
        }};
    }
    beta!(v1beta1);
    beta!(v1beta2);
}

#[test]
fn filesystem_all_versions() {
    macro_rules! v1_shape {
        ($v:ident) => {{
            use wire::filesystem::$v::*;
            check(PathExistsRequest { path: "p".into() }, &[s(1, "p")]);
            check(PathExistsResponse { exists: true }, &[F::V(1, 1)]);
            check(
                RmdirRequest {
                    path: "p".into(),
                    force: true,
                },
                &[s(1, "p"), F::V(2, 1)],
            );
            check(
                CreateSymlinkRequest {
                    source_path: "s".into(),
                    target_path: "t".into(),
                },
                &[s(1, "s"), s(2, "t")],
            );
            check(IsSymlinkResponse { is_symlink: true }, &[F::V(1, 1)]);
        }};
    }
    v1_shape!(v1);
    v1_shape!(v1beta2);
    v1_shape!(v2alpha1);
    check(
        wire::filesystem::v2alpha1::RmdirContentsRequest { path: "p".into() },
        &[s(1, "p")],
    );
    macro_rules! old {
        ($v:ident) => {{
            use wire::filesystem::$v::*;
            check(
                PathExistsRequest {
                    path: "p".into(),
                    context: PathContext::Pod as i32,
                },
                &[s(1, "p"), F::V(2, 1)],
            );
            check(
                PathExistsResponse {
                    error: "e".into(),
                    exists: true,
                },
                &[s(1, "e"), F::V(2, 1)],
            );
            check(
                MkdirRequest {
                    path: "p".into(),
                    context: 1,
                },
                &[s(1, "p"), F::V(2, 1)],
            );
            check(
                RmdirRequest {
                    path: "p".into(),
                    context: 1,
                    force: true,
                },
                &[s(1, "p"), F::V(2, 1), F::V(3, 1)],
            );
            check(
                LinkPathRequest {
                    source_path: "s".into(),
                    target_path: "t".into(),
                },
                &[s(1, "s"), s(2, "t")],
            );
            check(LinkPathResponse { error: "e".into() }, &[s(1, "e")]);
            check(
                IsMountPointResponse {
                    error: "e".into(),
                    is_mount_point: true,
                },
                &[s(1, "e"), F::V(2, 1)],
            );
        }};
    }
    old!(v1alpha1);
    old!(v1beta1);
}

#[test]
fn smb_all_versions() {
    macro_rules! req {
        ($v:ident) => {{
            use wire::smb::$v::*;
            check(
                NewSmbGlobalMappingRequest {
                    remote_path: "r".into(),
                    local_path: "l".into(),
                    username: "u".into(),
                    password: "p".into(),
                },
                &[s(1, "r"), s(2, "l"), s(3, "u"), s(4, "p")],
            );
            check(
                RemoveSmbGlobalMappingRequest {
                    remote_path: "r".into(),
                },
                &[s(1, "r")],
            );
        }};
    }
    req!(v1alpha1);
    req!(v1beta1);
    req!(v1beta2);
    req!(v1);
    check(
        wire::smb::v1alpha1::NewSmbGlobalMappingResponse { error: "e".into() },
        &[s(1, "e")],
    );
    check(
        wire::smb::v1beta1::RemoveSmbGlobalMappingResponse { error: "e".into() },
        &[s(1, "e")],
    );
}

#[test]
fn iscsi_both_versions() {
    macro_rules! same {
        ($v:ident) => {{
            use wire::iscsi::$v::*;
            let tp = TargetPortal {
                target_address: "a".into(),
                target_port: 3260,
            };
            let tp_bytes = enc(&[s(1, "a"), F::V(2, 3260)]);
            check(tp.clone(), &[s(1, "a"), F::V(2, 3260)]);
            check(
                AddTargetPortalRequest {
                    target_portal: Some(tp.clone()),
                },
                &[F::L(1, tp_bytes.clone())],
            );
            check(
                DiscoverTargetPortalResponse {
                    iqns: vec!["i".into()],
                },
                &[s(1, "i")],
            );
            check(
                ListTargetPortalsResponse {
                    target_portals: vec![tp.clone()],
                },
                &[F::L(1, tp_bytes.clone())],
            );
            check(
                ConnectTargetRequest {
                    target_portal: Some(tp.clone()),
                    iqn: "i".into(),
                    auth_type: AuthenticationType::MutualChap as i32,
                    chap_username: "u".into(),
                    chap_secret: "x".into(),
                },
                &[
                    F::L(1, tp_bytes.clone()),
                    s(2, "i"),
                    F::V(3, 2),
                    s(4, "u"),
                    s(5, "x"),
                ],
            );
            check(
                DisconnectTargetRequest {
                    target_portal: Some(tp.clone()),
                    iqn: "i".into(),
                },
                &[F::L(1, tp_bytes.clone()), s(2, "i")],
            );
            check(
                GetTargetDisksResponse {
                    disk_i_ds: vec!["3".into()],
                },
                &[s(1, "3")],
            );
            assert_eq!(AuthenticationType::OneWayChap as i32, 1);
        }};
    }
    same!(v1alpha1);
    same!(v1alpha2);
    check(
        wire::iscsi::v1alpha2::SetMutualChapSecretRequest {
            mutual_chap_secret: "s".into(),
        },
        &[s(1, "s")],
    );
}

#[test]
fn system_v1alpha1() {
    use wire::system::v1alpha1::*;
    check(
        GetBiosSerialNumberResponse {
            serial_number: "s".into(),
        },
        &[s(1, "s")],
    );
    check(
        StopServiceRequest {
            name: "n".into(),
            force: true,
        },
        &[s(1, "n"), F::V(2, 1)],
    );
    check(
        GetServiceResponse {
            display_name: "d".into(),
            start_type: StartType::Manual as i32,
            status: ServiceStatus::Paused as i32,
        },
        &[s(1, "d"), F::V(2, 3), F::V(3, 7)],
    );
    assert_eq!(ServiceStatus::StartPending as i32, 2);
    assert_eq!(StartType::Disabled as i32, 4);
}

#[test]
fn method_paths_are_version_package_and_service() {
    use tonic::server::NamedService;
    type D1 =
        wire::disk::v1::disk_server::DiskServer<winkube_csi_proxy::versions::disk::v1::Service>;
    type Vol = wire::volume::v2alpha1::volume_server::VolumeServer<
        winkube_csi_proxy::versions::volume::v2alpha1::Service,
    >;
    type Isc = wire::iscsi::v1alpha2::iscsi_server::IscsiServer<
        winkube_csi_proxy::versions::iscsi::v1alpha2::Service,
    >;
    type Sys = wire::system::v1alpha1::system_server::SystemServer<
        winkube_csi_proxy::versions::system::v1alpha1::Service,
    >;
    type Fs = wire::filesystem::v1beta1::filesystem_server::FilesystemServer<
        winkube_csi_proxy::versions::filesystem::v1beta1::Service,
    >;
    type Smb = wire::smb::v1alpha1::smb_server::SmbServer<
        winkube_csi_proxy::versions::smb::v1alpha1::Service,
    >;
    assert_eq!(D1::NAME, "v1.Disk");
    assert_eq!(Vol::NAME, "v2alpha1.Volume");
    assert_eq!(Isc::NAME, "v1alpha2.Iscsi");
    assert_eq!(Sys::NAME, "v1alpha1.System");
    assert_eq!(Fs::NAME, "v1beta1.Filesystem");
    assert_eq!(Smb::NAME, "v1alpha1.Smb");
}
