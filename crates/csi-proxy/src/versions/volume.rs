//! volume: v1alpha1, v1beta1, v1beta2, v1beta3, v1, v2alpha1.

use tonic::{Request, Response, Status};

use super::{call, parse_disk_number};
use crate::core::volume::{
    ListVolumesOnDiskRequest, ResizeVolumeRequest, VolumePathRequest, VolumeServer,
};

type R<T> = Result<Response<T>, Status>;

macro_rules! service_boilerplate {
    ($v:ident) => {
        pub use crate::wire::volume::$v as pb;
        use pb::volume_server::{Volume, VolumeServer as Grpc};

        /// The gRPC service.
        #[derive(Debug, Clone)]
        pub struct Service(pub VolumeServer);

        /// The tonic server for this version.
        pub fn server(core: VolumeServer) -> Grpc<Service> {
            Grpc::new(Service(core))
        }
    };
}

/// v1 and v1beta3 have identical messages; only the package differs.
macro_rules! volume_v1_shape {
    ($v:ident) => {
        /// volume
        #[doc = stringify!($v)]
        pub mod $v {
            use super::*;
            service_boilerplate!($v);
            #[tonic::async_trait]
            impl Volume for Service {
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

                async fn mount_volume(
                    &self,
                    r: Request<pb::MountVolumeRequest>,
                ) -> R<pb::MountVolumeResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("MountVolume", move || {
                        s.mount_volume(VolumePathRequest {
                            volume_id: r.volume_id,
                            target_path: r.target_path,
                        })?;
                        Ok(pb::MountVolumeResponse {})
                    })
                    .await
                }

                async fn unmount_volume(
                    &self,
                    r: Request<pb::UnmountVolumeRequest>,
                ) -> R<pb::UnmountVolumeResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("UnmountVolume", move || {
                        s.unmount_volume(VolumePathRequest {
                            volume_id: r.volume_id,
                            target_path: r.target_path,
                        })?;
                        Ok(pb::UnmountVolumeResponse {})
                    })
                    .await
                }

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

                async fn resize_volume(
                    &self,
                    r: Request<pb::ResizeVolumeRequest>,
                ) -> R<pb::ResizeVolumeResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("ResizeVolume", move || {
                        s.resize_volume(ResizeVolumeRequest {
                            volume_id: r.volume_id,
                            size_bytes: r.size_bytes,
                        })?;
                        Ok(pb::ResizeVolumeResponse {})
                    })
                    .await
                }

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
            }
        }
    };
}

volume_v1_shape!(v1);
volume_v1_shape!(v1beta3);

/// volume v2alpha1: v1 plus GetClosestVolumeIDFromTargetPath.
pub mod v2alpha1 {
    use super::*;
    service_boilerplate!(v2alpha1);
    #[tonic::async_trait]
    impl Volume for Service {
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

        async fn mount_volume(
            &self,
            r: Request<pb::MountVolumeRequest>,
        ) -> R<pb::MountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("MountVolume", move || {
                s.mount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.target_path,
                })?;
                Ok(pb::MountVolumeResponse {})
            })
            .await
        }

        async fn unmount_volume(
            &self,
            r: Request<pb::UnmountVolumeRequest>,
        ) -> R<pb::UnmountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("UnmountVolume", move || {
                s.unmount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.target_path,
                })?;
                Ok(pb::UnmountVolumeResponse {})
            })
            .await
        }

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

        async fn resize_volume(
            &self,
            r: Request<pb::ResizeVolumeRequest>,
        ) -> R<pb::ResizeVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("ResizeVolume", move || {
                s.resize_volume(ResizeVolumeRequest {
                    volume_id: r.volume_id,
                    size_bytes: r.size_bytes,
                })?;
                Ok(pb::ResizeVolumeResponse {})
            })
            .await
        }

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
    }
}

macro_rules! list_request_fn {
    () => {
        /// Wire → internal ListVolumesOnDisk: the decimal `disk_id` string, all partitions.
        pub fn list_request(
            r: pb::ListVolumesOnDiskRequest,
        ) -> crate::error::Result<ListVolumesOnDiskRequest> {
            Ok(ListVolumesOnDiskRequest {
                disk_number: parse_disk_number("ListVolumesOnDiskRequest.disk_id", &r.disk_id)?,
                partition_number: 0,
            })
        }
    };
}

/// volume v1alpha1.
pub mod v1alpha1 {
    use super::*;
    service_boilerplate!(v1alpha1);
    list_request_fn!();
    #[tonic::async_trait]
    impl Volume for Service {
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

        async fn mount_volume(
            &self,
            r: Request<pb::MountVolumeRequest>,
        ) -> R<pb::MountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("MountVolume", move || {
                s.mount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.path,
                })?;
                Ok(pb::MountVolumeResponse {})
            })
            .await
        }

        async fn dismount_volume(
            &self,
            r: Request<pb::DismountVolumeRequest>,
        ) -> R<pb::DismountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("DismountVolume", move || {
                s.unmount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.path,
                })?;
                Ok(pb::DismountVolumeResponse {})
            })
            .await
        }

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

        async fn resize_volume(
            &self,
            r: Request<pb::ResizeVolumeRequest>,
        ) -> R<pb::ResizeVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("ResizeVolume", move || {
                s.resize_volume(ResizeVolumeRequest {
                    volume_id: r.volume_id,
                    size_bytes: r.size,
                })?;
                Ok(pb::ResizeVolumeResponse {})
            })
            .await
        }
    }
}

/// volume v1beta1: adds VolumeStats, GetVolumeDiskNumber, GetVolumeIDFromMount.
pub mod v1beta1 {
    use super::*;
    service_boilerplate!(v1beta1);
    list_request_fn!();
    #[tonic::async_trait]
    impl Volume for Service {
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

        async fn mount_volume(
            &self,
            r: Request<pb::MountVolumeRequest>,
        ) -> R<pb::MountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("MountVolume", move || {
                s.mount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.path,
                })?;
                Ok(pb::MountVolumeResponse {})
            })
            .await
        }

        async fn dismount_volume(
            &self,
            r: Request<pb::DismountVolumeRequest>,
        ) -> R<pb::DismountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("DismountVolume", move || {
                s.unmount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.path,
                })?;
                Ok(pb::DismountVolumeResponse {})
            })
            .await
        }

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

        async fn resize_volume(
            &self,
            r: Request<pb::ResizeVolumeRequest>,
        ) -> R<pb::ResizeVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("ResizeVolume", move || {
                s.resize_volume(ResizeVolumeRequest {
                    volume_id: r.volume_id,
                    size_bytes: r.size,
                })?;
                Ok(pb::ResizeVolumeResponse {})
            })
            .await
        }
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
    }
}

/// volume v1beta2: adds WriteVolumeCache.
pub mod v1beta2 {
    use super::*;
    service_boilerplate!(v1beta2);
    list_request_fn!();
    #[tonic::async_trait]
    impl Volume for Service {
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

        async fn mount_volume(
            &self,
            r: Request<pb::MountVolumeRequest>,
        ) -> R<pb::MountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("MountVolume", move || {
                s.mount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.path,
                })?;
                Ok(pb::MountVolumeResponse {})
            })
            .await
        }

        async fn dismount_volume(
            &self,
            r: Request<pb::DismountVolumeRequest>,
        ) -> R<pb::DismountVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("DismountVolume", move || {
                s.unmount_volume(VolumePathRequest {
                    volume_id: r.volume_id,
                    target_path: r.path,
                })?;
                Ok(pb::DismountVolumeResponse {})
            })
            .await
        }

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

        async fn resize_volume(
            &self,
            r: Request<pb::ResizeVolumeRequest>,
        ) -> R<pb::ResizeVolumeResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("ResizeVolume", move || {
                s.resize_volume(ResizeVolumeRequest {
                    volume_id: r.volume_id,
                    size_bytes: r.size,
                })?;
                Ok(pb::ResizeVolumeResponse {})
            })
            .await
        }
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
    }
}
