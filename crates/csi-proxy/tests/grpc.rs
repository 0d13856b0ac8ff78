//! The gRPC surface over real Unix sockets: every group/version endpoint, the
//! grpc-go `:authority` forms, idle connections and the handshake timeout.
#![cfg(unix)] // the transport under test is the Unix-socket one
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use tokio::io::AsyncWriteExt;
use tonic::Code;
use winkube_csi_proxy::transport::{Api, ServeOptions};
use winkube_csi_proxy::wire;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_and_version_answers_on_its_own_socket() {
    let s = serve(vec![], ServeOptions::default()).await;
    let count = std::fs::read_dir(s.dir.path()).unwrap().count();
    assert_eq!(count, 23, "one socket per group/version");

    // disk: one call per version, each checking real data from the seeded node.
    {
        use wire::disk::*;
        let r = v1::disk_client::DiskClient::new(s.channel("disk", "v1").await)
            .list_disk_locations(v1::ListDiskLocationsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.disk_locations[&1].lunid, "1");
        let r = v1beta3::disk_client::DiskClient::new(s.channel("disk", "v1beta3").await)
            .get_disk_stats(v1beta3::GetDiskStatsRequest { disk_number: 1 })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.total_bytes, 10 << 30);
        let r = v1beta2::disk_client::DiskClient::new(s.channel("disk", "v1beta2").await)
            .get_attach_state(v1beta2::GetAttachStateRequest {
                disk_id: "2".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!r.is_online);
        let r = v1beta1::disk_client::DiskClient::new(s.channel("disk", "v1beta1").await)
            .list_disk_i_ds(v1beta1::ListDiskIDsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.disk_i_ds["0"].identifiers["serialNumber"],
            "SYSTEM-DISK-0"
        );
        let r = v1alpha1::disk_client::DiskClient::new(s.channel("disk", "v1alpha1").await)
            .get_disk_number_by_name(v1alpha1::GetDiskNumberByNameRequest {
                disk_name: "6002248071a36bd8c2f8a6b4e1a0f002".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.disk_number, "1");
    }
    // volume
    {
        use wire::volume::*;
        let mount = r"C:\var\lib\kubelet\plugins\disk.csi.example.com\pv-1\globalmount";
        let data = r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\";
        let r = v1::volume_client::VolumeClient::new(s.channel("volume", "v1").await)
            .list_volumes_on_disk(v1::ListVolumesOnDiskRequest {
                disk_number: 1,
                partition_number: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.volume_ids, vec![data.to_string()]);
        let r = v1beta3::volume_client::VolumeClient::new(s.channel("volume", "v1beta3").await)
            .get_volume_id_from_target_path(v1beta3::GetVolumeIdFromTargetPathRequest {
                target_path: mount.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.volume_id, data);
        let r = v2alpha1::volume_client::VolumeClient::new(s.channel("volume", "v2alpha1").await)
            .get_closest_volume_id_from_target_path(
                v2alpha1::GetClosestVolumeIdFromTargetPathRequest {
                    target_path: r"C:\var\lib\kubelet\pods".into(),
                },
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.volume_id,
            r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000001}\"
        );
        let r = v1beta2::volume_client::VolumeClient::new(s.channel("volume", "v1beta2").await)
            .volume_stats(v1beta2::VolumeStatsRequest {
                volume_id: data.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((r.volume_size, r.volume_used_size), (8 << 30, 1 << 30));
        let r = v1beta1::volume_client::VolumeClient::new(s.channel("volume", "v1beta1").await)
            .get_volume_disk_number(v1beta1::VolumeDiskNumberRequest {
                volume_id: data.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.disk_number, 1);
        let r = v1alpha1::volume_client::VolumeClient::new(s.channel("volume", "v1alpha1").await)
            .is_volume_formatted(v1alpha1::IsVolumeFormattedRequest {
                volume_id: data.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(r.formatted);
    }
    // filesystem
    {
        use wire::filesystem::*;
        let pods = r"C:\var\lib\kubelet\pods".to_string();
        for version in ["v1", "v1beta2", "v2alpha1"] {
            let ch = s.channel("filesystem", version).await;
            let exists = match version {
                "v1" => {
                    v1::filesystem_client::FilesystemClient::new(ch)
                        .path_exists(v1::PathExistsRequest { path: pods.clone() })
                        .await
                        .unwrap()
                        .into_inner()
                        .exists
                }
                "v1beta2" => {
                    v1beta2::filesystem_client::FilesystemClient::new(ch)
                        .path_exists(v1beta2::PathExistsRequest { path: pods.clone() })
                        .await
                        .unwrap()
                        .into_inner()
                        .exists
                }
                _ => {
                    v2alpha1::filesystem_client::FilesystemClient::new(ch)
                        .path_exists(v2alpha1::PathExistsRequest { path: pods.clone() })
                        .await
                        .unwrap()
                        .into_inner()
                        .exists
                }
            };
            assert!(exists, "{version}");
        }
        let r = v1alpha1::filesystem_client::FilesystemClient::new(
            s.channel("filesystem", "v1alpha1").await,
        )
        .is_mount_point(v1alpha1::IsMountPointRequest {
            path: r"C:\var\lib\kubelet\plugins\disk.csi.example.com\pv-1\globalmount".into(),
        })
        .await
        .unwrap()
        .into_inner();
        assert!(r.is_mount_point);
        assert!(r.error.is_empty());
        let r = v1beta1::filesystem_client::FilesystemClient::new(
            s.channel("filesystem", "v1beta1").await,
        )
        .path_exists(v1beta1::PathExistsRequest {
            path: pods.clone(),
            context: v1beta1::PathContext::Pod as i32,
        })
        .await
        .unwrap()
        .into_inner();
        assert!(r.exists);
    }
    // smb: remove the seeded mapping through each version in turn (re-creating it between).
    {
        use wire::smb::*;
        let root = r"\\fileserver\public".to_string();
        for version in ["v1", "v1beta2", "v1beta1", "v1alpha1"] {
            let ch = s.channel("smb", version).await;
            match version {
                "v1" => {
                    let mut c = v1::smb_client::SmbClient::new(ch);
                    c.new_smb_global_mapping(v1::NewSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                    c.remove_smb_global_mapping(v1::RemoveSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                    })
                    .await
                    .unwrap();
                }
                "v1beta2" => {
                    let mut c = v1beta2::smb_client::SmbClient::new(ch);
                    c.new_smb_global_mapping(v1beta2::NewSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                    c.remove_smb_global_mapping(v1beta2::RemoveSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                    })
                    .await
                    .unwrap();
                }
                "v1beta1" => {
                    let mut c = v1beta1::smb_client::SmbClient::new(ch);
                    let r = c
                        .new_smb_global_mapping(v1beta1::NewSmbGlobalMappingRequest {
                            remote_path: root.clone(),
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    assert!(r.into_inner().error.is_empty());
                    c.remove_smb_global_mapping(v1beta1::RemoveSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                    })
                    .await
                    .unwrap();
                }
                _ => {
                    let mut c = v1alpha1::smb_client::SmbClient::new(ch);
                    c.new_smb_global_mapping(v1alpha1::NewSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                    c.remove_smb_global_mapping(v1alpha1::RemoveSmbGlobalMappingRequest {
                        remote_path: root.clone(),
                    })
                    .await
                    .unwrap();
                }
            }
            assert_eq!(s.host.mapping(&root), None, "{version}");
        }
    }
    // iscsi
    {
        use wire::iscsi::*;
        let r = v1alpha1::iscsi_client::IscsiClient::new(s.channel("iscsi", "v1alpha1").await)
            .list_target_portals(v1alpha1::ListTargetPortalsRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.target_portals,
            vec![v1alpha1::TargetPortal {
                target_address: "10.0.0.10".into(),
                target_port: 3260
            }]
        );
        let r = v1alpha2::iscsi_client::IscsiClient::new(s.channel("iscsi", "v1alpha2").await)
            .discover_target_portal(v1alpha2::DiscoverTargetPortalRequest {
                target_portal: Some(v1alpha2::TargetPortal {
                    target_address: "10.0.0.10".into(),
                    target_port: 0,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.iqns, vec!["iqn.2003-01.org.example:target1".to_string()]);
    }
    // system
    {
        use wire::system::v1alpha1::*;
        let mut c = system_client::SystemClient::new(s.channel("system", "v1alpha1").await);
        let r = c
            .get_service(GetServiceRequest {
                name: "Winmgmt".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServiceStatus::Running as i32);
        assert_eq!(r.start_type, StartType::Automatic as i32);
        let r = c
            .get_bios_serial_number(GetBiosSerialNumberRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.serial_number, "FAKE-BIOS-0001");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_errors_are_unknown_with_a_message_and_unknown_methods_unimplemented() {
    let s = serve(
        vec![Api {
            group: "disk".into(),
            version: "v1".into(),
        }],
        ServeOptions::default(),
    )
    .await;
    let mut c = wire::disk::v1::disk_client::DiskClient::new(s.channel("disk", "v1").await);
    let e = c
        .get_disk_stats(wire::disk::v1::GetDiskStatsRequest { disk_number: 99 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unknown);
    assert_eq!(e.message(), "disk 99 not found");

    // A method of another service on this endpoint: Unimplemented, as grpc-go.
    let mut raw = RawConn::connect(&s.socket("disk", "v1")).await;
    let r = raw
        .call(
            1,
            &request_block("/v1.Volume/FormatVolume", Some(b"localhost"), false),
            &[],
        )
        .await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("12"));
    drop(raw);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_go_pipe_authorities_are_accepted() {
    // A short shutdown grace: the raw connection stays open to the end, and
    // stopping must not wait for it forever (Go clients never close theirs).
    let opts = ServeOptions {
        shutdown_grace: Duration::from_millis(200),
        ..ServeOptions::default()
    };
    let s = serve(
        vec![Api {
            group: "disk".into(),
            version: "v1".into(),
        }],
        opts,
    )
    .await;
    let mut raw = RawConn::connect(&s.socket("disk", "v1")).await;
    let msg = wire::disk::v1::GetDiskStatsRequest { disk_number: 1 }.encode_to_vec();
    let mut stream = 1;
    for (authority, indexed) in [
        (GO_AUTHORITY_ESCAPED, false),
        (GO_AUTHORITY_RAW, false),
        (GO_AUTHORITY_ESCAPED, true),
    ] {
        let r = raw
            .call(
                stream,
                &request_block("/v1.Disk/GetDiskStats", Some(authority), indexed),
                &msg,
            )
            .await;
        assert_eq!(
            r.rst_code,
            None,
            "authority {:?}",
            String::from_utf8_lossy(authority)
        );
        assert_eq!(r.header("grpc-status").as_deref(), Some("0"));
        let resp = wire::disk::v1::GetDiskStatsResponse::decode(r.message()).unwrap();
        assert_eq!(resp.total_bytes, 10 << 30);
        stream += 2;
    }
    // 0xBE = indexed field 62: the :authority the previous call put into the
    // client's dynamic table. The filter must have tracked that table.
    let mut block = vec![0x83, 0x86];
    block.extend(literal(b":path", b"/v1.Disk/GetDiskStats"));
    block.push(0xBE);
    block.extend(literal(b"content-type", b"application/grpc"));
    let r = raw.call(stream, &block, &msg).await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("0"));
    // A request without any :authority is fine too.
    let r = raw
        .call(
            stream + 2,
            &request_block("/v1.Disk/GetDiskStats", None, false),
            &msg,
        )
        .await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("0"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_tonic_server_refuses_the_grpc_go_authority() {
    // The reason for the filter: without it, h2 resets the stream.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let node = node_with(std::sync::Arc::new(
        winkube_csi_proxy::host::fake::FakeHost::seeded(),
    ));
    let routes = winkube_csi_proxy::versions::routes("disk", "v1", &node).unwrap();
    let incoming = futures::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(incoming),
    );
    let mut raw = RawConn::connect(&path).await;
    let msg = wire::disk::v1::GetDiskStatsRequest { disk_number: 1 }.encode_to_vec();
    let r = raw
        .call(
            1,
            &request_block("/v1.Disk/GetDiskStats", Some(GO_AUTHORITY_ESCAPED), false),
            &msg,
        )
        .await;
    assert_eq!(r.rst_code, Some(1), "PROTOCOL_ERROR");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_block_others_and_time_out() {
    let opts = ServeOptions {
        handshake_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    };
    let s = serve(
        vec![Api {
            group: "system".into(),
            version: "v1alpha1".into(),
        }],
        opts,
    )
    .await;
    let path = s.socket("system", "v1alpha1");
    // Like every Go NewClient: a probe connection that never speaks.
    let mut idle = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut c = wire::system::v1alpha1::system_client::SystemClient::new(
        s.channel("system", "v1alpha1").await,
    );
    let r = c
        .get_bios_serial_number(wire::system::v1alpha1::GetBiosSerialNumberRequest {})
        .await
        .unwrap();
    assert_eq!(r.into_inner().serial_number, "FAKE-BIOS-0001");
    // The server closes the silent connection once the handshake timeout passes.
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut idle, &mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(closed, "idle connection was not closed");
    let _ = idle.shutdown().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_socket_is_refused_and_stale_sockets_are_replaced() {
    let s = serve(
        vec![Api {
            group: "smb".into(),
            version: "v1".into(),
        }],
        ServeOptions::default(),
    )
    .await;
    let api = Api {
        group: "smb".into(),
        version: "v1".into(),
    };
    let e = winkube_csi_proxy::transport::UnixEndpoint::bind(s.dir.path(), api.clone())
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("already served"), "{e}");
    let dir = s.dir.path().to_path_buf();
    let keep = tempfile::tempdir().unwrap();
    // Stale: a socket file nobody listens on.
    let stale = keep.path().join(api.endpoint_name());
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let ep = winkube_csi_proxy::transport::UnixEndpoint::bind(keep.path(), api)
        .await
        .unwrap();
    assert_eq!(ep.path(), stale.as_path());
    drop(dir);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protobuf_is_an_error_not_a_crash() {
    let s = serve(
        vec![Api {
            group: "volume".into(),
            version: "v1".into(),
        }],
        ServeOptions::default(),
    )
    .await;
    let mut raw = RawConn::connect(&s.socket("volume", "v1")).await;
    // Field 1 declared as a 100-byte string with only 2 bytes present.
    let r = raw
        .call(
            1,
            &request_block("/v1.Volume/FormatVolume", Some(GO_AUTHORITY_ESCAPED), false),
            &[0x0a, 100, b'a', b'b'],
        )
        .await;
    assert_eq!(r.header("grpc-status").as_deref(), Some("13"), "{r:?}");
    // The server still answers afterwards.
    let mut c = wire::volume::v1::volume_client::VolumeClient::new(s.channel("volume", "v1").await);
    let ok = c
        .is_volume_formatted(wire::volume::v1::IsVolumeFormattedRequest {
            volume_id: r"\\?\Volume{0a1b2c3d-0000-4000-8000-000000000002}\".into(),
        })
        .await
        .unwrap();
    assert!(ok.into_inner().formatted);
    drop(raw);
    s.stop().await;
}
