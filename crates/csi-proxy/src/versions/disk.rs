//! disk: v1alpha1, v1beta1, v1beta2, v1beta3, v1.
//!
//! Every RPC is written once, as a rule of [`disk_service!`]; a version lists
//! the rules its proto has.

use tonic::{Request, Response, Status};

use super::{call, parse_disk_number};
use crate::core::disk::{
    DiskServer, GetDiskNumberByNameRequest, GetDiskStateRequest, GetDiskStatsRequest,
    PartitionDiskRequest, SetDiskStateRequest,
};

type R<T> = Result<Response<T>, Status>;

/// `pb`, `Service`, `server()` and `location()` for one version, then its
/// `Disk` impl made of the listed RPC rules. The rules are collected before
/// `async_trait` sees the impl (it must see plain `async fn`s, not macro calls).
macro_rules! disk_service {
    ($v:ident: $($rpc:tt)*) => {
        pub use crate::wire::disk::$v as pb;
        use pb::disk_server::{Disk, DiskServer as Grpc};

        /// The gRPC service.
        #[derive(Debug, Clone)]
        pub struct Service(pub DiskServer);

        /// The tonic server for this version.
        pub fn server(core: DiskServer) -> Grpc<Service> {
            Grpc::new(Service(core))
        }

        /// Internal → wire location.
        pub fn location(l: crate::core::disk::DiskLocation) -> pb::DiskLocation {
            pb::DiskLocation {
                adapter: l.adapter,
                bus: l.bus,
                target: l.target,
                lunid: l.lun_id,
            }
        }

        disk_service!(@rpcs [] $($rpc)*);
    };
    (@rpcs [$($done:tt)*]) => {
        #[tonic::async_trait]
        impl Disk for Service {
            $($done)*
        }
    };
    (@rpcs [$($done:tt)*] rescan $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn rescan(&self, _r: Request<pb::RescanRequest>) -> R<pb::RescanResponse> {
                let s = self.0.clone();
                call("Rescan", move || s.rescan().map(|()| pb::RescanResponse {})).await
            }
        ] $($rest)*);
    };
    // ListDiskLocations keyed by disk number (v1beta3 on).
    (@rpcs [$($done:tt)*] locations $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn list_disk_locations(
                &self,
                _r: Request<pb::ListDiskLocationsRequest>,
            ) -> R<pb::ListDiskLocationsResponse> {
                let s = self.0.clone();
                call("ListDiskLocations", move || {
                    let r = s.list_disk_locations()?;
                    Ok(pb::ListDiskLocationsResponse {
                        disk_locations: r
                            .disk_locations
                            .into_iter()
                            .map(|(k, l)| (k, location(l)))
                            .collect(),
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // ListDiskLocations keyed by decimal strings (up to v1beta2).
    (@rpcs [$($done:tt)*] locations_old $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn list_disk_locations(
                &self,
                _r: Request<pb::ListDiskLocationsRequest>,
            ) -> R<pb::ListDiskLocationsResponse> {
                let s = self.0.clone();
                call("ListDiskLocations", move || {
                    Ok(locations_response(s.list_disk_locations()?))
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] partition $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn partition_disk(
                &self,
                r: Request<pb::PartitionDiskRequest>,
            ) -> R<pb::PartitionDiskResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("PartitionDisk", move || {
                    s.partition_disk(PartitionDiskRequest {
                        disk_number: r.disk_number,
                    })?;
                    Ok(pb::PartitionDiskResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] partition_old $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn partition_disk(
                &self,
                r: Request<pb::PartitionDiskRequest>,
            ) -> R<pb::PartitionDiskResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("PartitionDisk", move || {
                    s.partition_disk(partition_request(r)?)?;
                    Ok(pb::PartitionDiskResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    // ListDiskIDs with a page83/serial message (v1beta3 on).
    (@rpcs [$($done:tt)*] ids $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn list_disk_i_ds(
                &self,
                _r: Request<pb::ListDiskIDsRequest>,
            ) -> R<pb::ListDiskIDsResponse> {
                let s = self.0.clone();
                call("ListDiskIDs", move || {
                    let r = s.list_disk_ids()?;
                    Ok(pb::ListDiskIDsResponse {
                        disk_i_ds: r.disk_ids.into_iter().map(|(k, i)| (k, ids(i))).collect(),
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // ListDiskIDs with string keys and an identifier map (v1beta1, v1beta2).
    (@rpcs [$($done:tt)*] ids_beta $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn list_disk_i_ds(
                &self,
                _r: Request<pb::ListDiskIDsRequest>,
            ) -> R<pb::ListDiskIDsResponse> {
                let s = self.0.clone();
                call("ListDiskIDs", move || Ok(ids_response(s.list_disk_ids()?))).await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] stats $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn get_disk_stats(
                &self,
                r: Request<pb::GetDiskStatsRequest>,
            ) -> R<pb::GetDiskStatsResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetDiskStats", move || {
                    let st = s.get_disk_stats(GetDiskStatsRequest {
                        disk_number: r.disk_number,
                    })?;
                    Ok(pb::GetDiskStatsResponse {
                        total_bytes: st.total_bytes,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] stats_beta $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn disk_stats(&self, r: Request<pb::DiskStatsRequest>) -> R<pb::DiskStatsResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("DiskStats", move || {
                    let n = parse_disk_number("DiskStatsRequest.diskID", &r.disk_id)?;
                    let st = s.get_disk_stats(GetDiskStatsRequest { disk_number: n })?;
                    Ok(pb::DiskStatsResponse {
                        disk_size: st.total_bytes,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] set_state $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn set_disk_state(
                &self,
                r: Request<pb::SetDiskStateRequest>,
            ) -> R<pb::SetDiskStateResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("SetDiskState", move || {
                    s.set_disk_state(SetDiskStateRequest {
                        disk_number: r.disk_number,
                        is_online: r.is_online,
                    })?;
                    Ok(pb::SetDiskStateResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] get_state $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn get_disk_state(
                &self,
                r: Request<pb::GetDiskStateRequest>,
            ) -> R<pb::GetDiskStateResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetDiskState", move || {
                    let st = s.get_disk_state(GetDiskStateRequest {
                        disk_number: r.disk_number,
                    })?;
                    Ok(pb::GetDiskStateResponse {
                        is_online: st.is_online,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    // SetAttachState (v1beta2): SetDiskState with a decimal string id.
    (@rpcs [$($done:tt)*] set_attach $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn set_attach_state(
                &self,
                r: Request<pb::SetAttachStateRequest>,
            ) -> R<pb::SetAttachStateResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("SetAttachState", move || {
                    let n = parse_disk_number("SetAttachStateRequest.diskID", &r.disk_id)?;
                    s.set_disk_state(SetDiskStateRequest {
                        disk_number: n,
                        is_online: r.is_online,
                    })?;
                    Ok(pb::SetAttachStateResponse {})
                })
                .await
            }
        ] $($rest)*);
    };
    // GetAttachState (v1beta2): GetDiskState with a decimal string id.
    (@rpcs [$($done:tt)*] get_attach $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn get_attach_state(
                &self,
                r: Request<pb::GetAttachStateRequest>,
            ) -> R<pb::GetAttachStateResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetAttachState", move || {
                    let n = parse_disk_number("GetAttachStateRequest.diskID", &r.disk_id)?;
                    let st = s.get_disk_state(GetDiskStateRequest { disk_number: n })?;
                    Ok(pb::GetAttachStateResponse {
                        is_online: st.is_online,
                    })
                })
                .await
            }
        ] $($rest)*);
    };
    (@rpcs [$($done:tt)*] number_by_name $($rest:tt)*) => {
        disk_service!(@rpcs [$($done)*
            async fn get_disk_number_by_name(
                &self,
                r: Request<pb::GetDiskNumberByNameRequest>,
            ) -> R<pb::GetDiskNumberByNameResponse> {
                let (s, r) = (self.0.clone(), r.into_inner());
                call("GetDiskNumberByName", move || {
                    let n = s.get_disk_number_by_name(GetDiskNumberByNameRequest {
                        disk_name: r.disk_name,
                    })?;
                    Ok(pb::GetDiskNumberByNameResponse {
                        disk_number: n.disk_number.to_string(),
                    })
                })
                .await
            }
        ] $($rest)*);
    };
}

/// v1 and v1beta3 have identical messages; only the package differs.
macro_rules! disk_v1_shape {
    ($v:ident) => {
        /// Internal → wire ids.
        pub fn ids(i: crate::core::disk::DiskIds) -> pb::DiskIDs {
            pb::DiskIDs {
                page83: i.page83,
                serial_number: i.serial_number,
            }
        }

        disk_service!($v: locations partition rescan ids stats set_state get_state);
    };
}

/// Common parts of v1alpha1, v1beta1 and v1beta2: string disk ids and string map keys.
macro_rules! disk_old_common {
    () => {
        /// Wire → internal PartitionDisk request (`diskID` is a decimal string).
        pub fn partition_request(
            r: pb::PartitionDiskRequest,
        ) -> crate::error::Result<PartitionDiskRequest> {
            Ok(PartitionDiskRequest {
                disk_number: parse_disk_number("PartitionDiskRequest.diskID", &r.disk_id)?,
            })
        }

        /// Internal → wire ListDiskLocations response (keys become decimal strings).
        pub fn locations_response(
            r: crate::core::disk::ListDiskLocationsResponse,
        ) -> pb::ListDiskLocationsResponse {
            pb::ListDiskLocationsResponse {
                disk_locations: r
                    .disk_locations
                    .into_iter()
                    .map(|(k, l)| (k.to_string(), location(l)))
                    .collect(),
            }
        }
    };
}

/// v1beta1/v1beta2 identifiers map (`{"page83": .., "serialNumber": ..}`).
macro_rules! disk_beta_common {
    () => {
        /// Internal → wire ListDiskIDs response: string keys and an identifier map.
        pub fn ids_response(r: crate::core::disk::ListDiskIdsResponse) -> pb::ListDiskIDsResponse {
            pb::ListDiskIDsResponse {
                disk_i_ds: r
                    .disk_ids
                    .into_iter()
                    .map(|(k, i)| {
                        let identifiers = [
                            ("page83".to_string(), i.page83),
                            ("serialNumber".to_string(), i.serial_number),
                        ]
                        .into_iter()
                        .collect();
                        (k.to_string(), pb::DiskIDs { identifiers })
                    })
                    .collect(),
            }
        }
    };
}

/// disk v1alpha1: string ids, GetDiskNumberByName.
pub mod v1alpha1 {
    use super::*;
    disk_old_common!();
    disk_service!(v1alpha1: locations_old partition_old rescan number_by_name);
}

/// disk v1beta1: adds ListDiskIDs and DiskStats.
pub mod v1beta1 {
    use super::*;
    disk_old_common!();
    disk_beta_common!();
    disk_service!(v1beta1: locations_old partition_old rescan ids_beta stats_beta);
}

/// disk v1beta2: adds SetAttachState and GetAttachState.
pub mod v1beta2 {
    use super::*;
    disk_old_common!();
    disk_beta_common!();
    disk_service!(v1beta2: locations_old partition_old rescan ids_beta stats_beta set_attach get_attach);
}

/// disk v1beta3: v1's messages in the v1beta3 package.
pub mod v1beta3 {
    use super::*;
    disk_v1_shape!(v1beta3);
}

/// disk v1.
pub mod v1 {
    use super::*;
    disk_v1_shape!(v1);
}
