//! volume: v1alpha1, v1beta1, v1beta2, v1beta3, v1, v2alpha1.
//!
//! Every RPC is written once, as a rule of [`volume_service!`]; a version lists
//! the rules its proto has (the field names that differ are arguments).

use tonic::{Request, Response, Status};

use super::{call, parse_disk_number};
use crate::core::volume::{
    ListVolumesOnDiskRequest, ResizeVolumeRequest, VolumePathRequest, VolumeServer,
};

type R<T> = Result<Response<T>, Status>;

/// `pb`, `Service` and `server()` for one version, then its `Volume` impl made
/// of the listed RPC rules. The rules are collected before `async_trait` sees
/// the impl (it must see plain `async fn`s, not macro calls).
macro_rules! volume_service {
    ($v:ident: $($rpc:tt)*) => {
        pub use crate::wire::volume::$v as pb;
        use pb::volume_server::{Volume, VolumeServer as Grpc};

        /// The gRPC service.
        #[derive(Debug, Clone)]
        pub struct Service(pub VolumeServer);

        /// The tonic server for this version.
        pub fn server(core: VolumeServer) -> Grpc<Service> {
            Grpc::new(Service(core))
        }

        volume_service!(@rpcs [] $($rpc)*);
    };
    (@rpcs [$($done:tt)*]) => {
        #[tonic::async_trait]
        impl Volume for Service {
            $($done)*
        }
    };
    // ListVolumesOnDisk with a disk number and partition (v1beta3 on).
    (@rpcs [$($done:tt)*] list_by_number $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn list_volumes_on_disk(
                &self,
                r: Request<pb::ListVolumesOnDiskRequest>,
            ) -> R<pb::ListVolumesOnDiskResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("ListVolumesOnDisk", move || {
                    let ids = s.list_volumes_on_disk(ListVolumesOnDiskRequest {
                        disk_number: r.disk_number,
                        partition_number: r.partition_number,
                    })?;
                    Ok(pb::ListVolumesOnDiskResponse { volume_ids: ids })
                })
                .await
            }
        ] $($rest)*);
    };
    // ListVolumesOnDisk with a decimal `disk_id` string (up to v1beta2).
    (@rpcs [$($done:tt)*] list_by_disk_id $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn list_volumes_on_disk(
                &self,
                r: Request<pb::ListVolumesOnDiskRequest>,
            ) -> R<pb::ListVolumesOnDiskResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("ListVolumesOnDisk", move || {
                    let ids = s.list_volumes_on_disk(list_request(r)?)?;
                    Ok(pb::ListVolumesOnDiskResponse { volume_ids: ids })
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] mount($path:ident) $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn mount_volume(
                &self,
                r: Request<pb::MountVolumeRequest>,
            ) -> R<pb::MountVolumeResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("MountVolume", move || {
                    s.mount_volume(VolumePathRequest {
                        volume_id: r.volume_id,
                        target_path: r.$path,
                    })?;
                    Ok(pb::MountVolumeResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    // UnmountVolume (v1beta3 on) and DismountVolume (up to v1beta2): one call.
    (@rpcs [$($done:tt)*] unmount($rpc:ident, $name:literal, $req:ident, $resp:ident, $path:ident) $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn $rpc(
                &self,
                r: Request<pb::$req>,
            ) -> R<pb::$resp> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call($name, move || {
                    s.unmount_volume(VolumePathRequest {
                        volume_id: r.volume_id,
                        target_path: r.$path,
                    })?;
                    Ok(pb::$resp {})
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] is_formatted $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn is_volume_formatted(
                &self,
                r: Request<pb::IsVolumeFormattedRequest>,
            ) -> R<pb::IsVolumeFormattedResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("IsVolumeFormatted", move || {
                    Ok(pb::IsVolumeFormattedResponse {
                        formatted: s.is_volume_formatted(&r.volume_id)?,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] format $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn format_volume(
                &self,
                r: Request<pb::FormatVolumeRequest>,
            ) -> R<pb::FormatVolumeResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("FormatVolume", move || {
                    s.format_volume(&r.volume_id)
                        .map(|()| pb::FormatVolumeResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] resize($size:ident) $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn resize_volume(
                &self,
                r: Request<pb::ResizeVolumeRequest>,
            ) -> R<pb::ResizeVolumeResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("ResizeVolume", move || {
                    s.resize_volume(ResizeVolumeRequest {
                        volume_id: r.volume_id,
                        size_bytes: r.$size,
                    })?;
                    Ok(pb::ResizeVolumeResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    // GetVolumeStats (v1beta3 on).
    (@rpcs [$($done:tt)*] stats $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn get_volume_stats(
                &self,
                r: Request<pb::GetVolumeStatsRequest>,
            ) -> R<pb::GetVolumeStatsResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetVolumeStats", move || {
                    let st = s.get_volume_stats(&r.volume_id)?;
                    Ok(pb::GetVolumeStatsResponse {
                        total_bytes: st.total_bytes,
                        used_bytes: st.used_bytes,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // VolumeStats (v1beta1, v1beta2).
    (@rpcs [$($done:tt)*] stats_beta $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn volume_stats(
                &self,
                r: Request<pb::VolumeStatsRequest>,
            ) -> R<pb::VolumeStatsResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("VolumeStats", move || {
                    let st = s.get_volume_stats(&r.volume_id)?;
                    Ok(pb::VolumeStatsResponse {
                        volume_size: st.total_bytes,
                        volume_used_size: st.used_bytes,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // GetDiskNumberFromVolumeID (v1beta3 on).
    (@rpcs [$($done:tt)*] disk_number $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn get_disk_number_from_volume_id(
                &self,
                r: Request<pb::GetDiskNumberFromVolumeIdRequest>,
            ) -> R<pb::GetDiskNumberFromVolumeIdResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetDiskNumberFromVolumeID", move || {
                    Ok(pb::GetDiskNumberFromVolumeIdResponse {
                        disk_number: s.get_disk_number_from_volume_id(&r.volume_id)?,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // GetVolumeDiskNumber (v1beta1, v1beta2): the number as int64.
    (@rpcs [$($done:tt)*] disk_number_beta $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn get_volume_disk_number(
                &self,
                r: Request<pb::VolumeDiskNumberRequest>,
            ) -> R<pb::VolumeDiskNumberResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetVolumeDiskNumber", move || {
                    Ok(pb::VolumeDiskNumberResponse {
                        disk_number: i64::from(s.get_disk_number_from_volume_id(&r.volume_id)?),
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // GetVolumeIDFromTargetPath (v1beta3 on).
    (@rpcs [$($done:tt)*] id_from_path $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn get_volume_id_from_target_path(
                &self,
                r: Request<pb::GetVolumeIdFromTargetPathRequest>,
            ) -> R<pb::GetVolumeIdFromTargetPathResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetVolumeIDFromTargetPath", move || {
                    Ok(pb::GetVolumeIdFromTargetPathResponse {
                        volume_id: s.get_volume_id_from_target_path(&r.target_path)?,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // GetVolumeIDFromMount (v1beta1, v1beta2).
    (@rpcs [$($done:tt)*] id_from_mount $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn get_volume_id_from_mount(
                &self,
                r: Request<pb::VolumeIdFromMountRequest>,
            ) -> R<pb::VolumeIdFromMountResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetVolumeIDFromMount", move || {
                    Ok(pb::VolumeIdFromMountResponse {
                        volume_id: s.get_volume_id_from_target_path(&r.mount)?,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] write_cache $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn write_volume_cache(
                &self,
                r: Request<pb::WriteVolumeCacheRequest>,
            ) -> R<pb::WriteVolumeCacheResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("WriteVolumeCache", move || {
                    s.write_volume_cache(&r.volume_id)
                        .map(|()| pb::WriteVolumeCacheResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] closest_id $($rest:tt)*) => {
        volume_service!(@rpcs [$($done)*
            async fn get_closest_volume_id_from_target_path(
                &self,
                r: Request<pb::GetClosestVolumeIdFromTargetPathRequest>,
            ) -> R<pb::GetClosestVolumeIdFromTargetPathResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetClosestVolumeIDFromTargetPath", move || {
                    Ok(pb::GetClosestVolumeIdFromTargetPathResponse {
                        volume_id: s.get_closest_volume_id_from_target_path(&r.target_path)?,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
}

/// v1 and v1beta3 have identical messages; only the package differs.
macro_rules! volume_v1_shape {
    ($v:ident $(, $extra:tt)*) => {
        volume_service!($v:
            list_by_number
            mount(target_path)
            unmount(unmount_volume, "UnmountVolume", UnmountVolumeRequest, UnmountVolumeResponse, target_path)
            is_formatted format resize(size_bytes)
            stats disk_number id_from_path write_cache $($extra)*
        );
    };
}

/// The RPCs of v1alpha1; the betas add to them.
macro_rules! volume_alpha_shape {
    ($v:ident $(, $extra:tt)*) => {
        /// Wire → internal ListVolumesOnDisk: the decimal `disk_id` string, all partitions.
        pub fn list_request(
            r: pb::ListVolumesOnDiskRequest,
        ) -> crate::error::Result<ListVolumesOnDiskRequest> {
            Ok(ListVolumesOnDiskRequest {
                disk_number: parse_disk_number("ListVolumesOnDiskRequest.disk_id", &r.disk_id)?,
                partition_number: 0,
            })
        }

        volume_service!($v:
            list_by_disk_id
            mount(path)
            unmount(dismount_volume, "DismountVolume", DismountVolumeRequest, DismountVolumeResponse, path)
            is_formatted format resize(size) $($extra)*
        );
    };
}

/// volume v1alpha1.
pub mod v1alpha1 {
    use super::*;
    volume_alpha_shape!(v1alpha1);
}

/// volume v1beta1: adds VolumeStats, GetVolumeDiskNumber, GetVolumeIDFromMount.
pub mod v1beta1 {
    use super::*;
    volume_alpha_shape!(v1beta1, stats_beta, disk_number_beta, id_from_mount);
}

/// volume v1beta2: adds WriteVolumeCache.
pub mod v1beta2 {
    use super::*;
    volume_alpha_shape!(
        v1beta2,
        stats_beta,
        disk_number_beta,
        id_from_mount,
        write_cache
    );
}

/// volume v1beta3: v1's messages in the v1beta3 package.
pub mod v1beta3 {
    use super::*;
    volume_v1_shape!(v1beta3);
}

/// volume v1.
pub mod v1 {
    use super::*;
    volume_v1_shape!(v1);
}

/// volume v2alpha1: v1 plus GetClosestVolumeIDFromTargetPath.
pub mod v2alpha1 {
    use super::*;
    volume_v1_shape!(v2alpha1, closest_id);
}
