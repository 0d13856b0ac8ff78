//! iscsi: v1alpha1, v1alpha2 (adds SetMutualChapSecret).

use tonic::{Request, Response, Status};

use super::call;
use crate::core::iscsi::{ConnectTargetRequest, IscsiServer, TargetPortal, TargetRequest};
use crate::validate::Secret;

type R<T> = Result<Response<T>, Status>;

macro_rules! iscsi_module {
    ($v:ident { $($extra:tt)* }) => {
        /// iscsi
        #[doc = stringify!($v)]
        pub mod $v {
            use super::*;
            pub use crate::wire::iscsi::$v as pb;
            use pb::iscsi_server::{Iscsi, IscsiServer as Grpc};

            /// The gRPC service.
            #[derive(Debug, Clone)]
            pub struct Service(pub IscsiServer);

            /// The tonic server for this version.
            pub fn server(core: IscsiServer) -> Grpc<Service> {
                Grpc::new(Service(core))
            }

            /// Wire → internal portal (a missing message stays `None` and is refused by the server).
            pub fn portal(p: Option<pb::TargetPortal>) -> Option<TargetPortal> {
                p.map(|p| TargetPortal { target_address: p.target_address, target_port: p.target_port })
            }

            /// Internal → wire portal list.
            pub fn portals_response(ps: Vec<TargetPortal>) -> pb::ListTargetPortalsResponse {
                pb::ListTargetPortalsResponse {
                    target_portals: ps.into_iter().map(|p| pb::TargetPortal { target_address: p.target_address, target_port: p.target_port }).collect(),
                }
            }

            /// Wire → internal ConnectTarget.
            pub fn connect_request(r: pb::ConnectTargetRequest) -> crate::error::Result<ConnectTargetRequest> {
                Ok(ConnectTargetRequest {
                    target: TargetRequest { target_portal: portal(r.target_portal), iqn: r.iqn },
                    auth_type: r.auth_type,
                    chap_username: r.chap_username,
                    chap_secret: Secret::new("chap_secret", r.chap_secret)?,
                })
            }

            #[tonic::async_trait]
            impl Iscsi for Service {
                async fn add_target_portal(&self, r: Request<pb::AddTargetPortalRequest>) -> R<pb::AddTargetPortalResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("AddTargetPortal", move || s.add_target_portal(&portal(r.target_portal)).map(|()| pb::AddTargetPortalResponse {})).await
                }

                async fn discover_target_portal(&self, r: Request<pb::DiscoverTargetPortalRequest>) -> R<pb::DiscoverTargetPortalResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("DiscoverTargetPortal", move || Ok(pb::DiscoverTargetPortalResponse { iqns: s.discover_target_portal(&portal(r.target_portal))? })).await
                }

                async fn remove_target_portal(&self, r: Request<pb::RemoveTargetPortalRequest>) -> R<pb::RemoveTargetPortalResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("RemoveTargetPortal", move || s.remove_target_portal(&portal(r.target_portal)).map(|()| pb::RemoveTargetPortalResponse {})).await
                }

                async fn list_target_portals(&self, _r: Request<pb::ListTargetPortalsRequest>) -> R<pb::ListTargetPortalsResponse> {
                    let s = self.0.clone();
                    call("ListTargetPortals", move || Ok(portals_response(s.list_target_portals()?))).await
                }

                async fn connect_target(&self, r: Request<pb::ConnectTargetRequest>) -> R<pb::ConnectTargetResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("ConnectTarget", move || s.connect_target(connect_request(r)?).map(|()| pb::ConnectTargetResponse {})).await
                }

                async fn disconnect_target(&self, r: Request<pb::DisconnectTargetRequest>) -> R<pb::DisconnectTargetResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("DisconnectTarget", move || {
                        s.disconnect_target(&TargetRequest { target_portal: portal(r.target_portal), iqn: r.iqn })?;
                        Ok(pb::DisconnectTargetResponse {})
                    })
                    .await
                }

                async fn get_target_disks(&self, r: Request<pb::GetTargetDisksRequest>) -> R<pb::GetTargetDisksResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("GetTargetDisks", move || {
                        let disks = s.get_target_disks(&TargetRequest { target_portal: portal(r.target_portal), iqn: r.iqn })?;
                        Ok(pb::GetTargetDisksResponse { disk_i_ds: disks })
                    })
                    .await
                }

                $($extra)*
            }
        }
    };
}

iscsi_module!(v1alpha1 {});
iscsi_module!(v1alpha2 {
    async fn set_mutual_chap_secret(&self, r: Request<pb::SetMutualChapSecretRequest>) -> R<pb::SetMutualChapSecretResponse> {
        let (s, r) = (self.0.clone(), r.into_inner());
        call("SetMutualChapSecret", move || {
            let secret = Secret::new("MutualChapSecret", r.mutual_chap_secret)?;
            s.set_mutual_chap_secret(&secret).map(|()| pb::SetMutualChapSecretResponse {})
        })
        .await
    }
});
