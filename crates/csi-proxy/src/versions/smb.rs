//! smb: v1alpha1, v1beta1 (responses carry an always-empty `error`), v1beta2, v1.

use tonic::{Request, Response, Status};

use super::call;
use crate::core::smb::{NewSmbGlobalMappingRequest, SmbServer};
use crate::validate::Secret;

type R<T> = Result<Response<T>, Status>;

macro_rules! smb_module {
    ($v:ident, $($err:ident)?) => {
        /// smb
        #[doc = stringify!($v)]
        pub mod $v {
            use super::*;
            pub use crate::wire::smb::$v as pb;
            use pb::smb_server::{Smb, SmbServer as Grpc};

            /// The gRPC service.
            #[derive(Debug, Clone)]
            pub struct Service(pub SmbServer);

            /// The tonic server for this version.
            pub fn server(core: SmbServer) -> Grpc<Service> {
                Grpc::new(Service(core))
            }

            /// Wire → internal NewSmbGlobalMapping (identical fields in every version).
            pub fn new_mapping_request(r: pb::NewSmbGlobalMappingRequest) -> crate::error::Result<NewSmbGlobalMappingRequest> {
                Ok(NewSmbGlobalMappingRequest {
                    remote_path: r.remote_path,
                    local_path: r.local_path,
                    username: r.username,
                    password: Secret::new("password", r.password)?,
                })
            }

            #[tonic::async_trait]
            impl Smb for Service {
                async fn new_smb_global_mapping(&self, r: Request<pb::NewSmbGlobalMappingRequest>) -> R<pb::NewSmbGlobalMappingResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("NewSmbGlobalMapping", move || {
                        s.new_smb_global_mapping(new_mapping_request(r)?)?;
                        Ok(pb::NewSmbGlobalMappingResponse { $($err: String::new())? })
                    })
                    .await
                }

                async fn remove_smb_global_mapping(&self, r: Request<pb::RemoveSmbGlobalMappingRequest>) -> R<pb::RemoveSmbGlobalMappingResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("RemoveSmbGlobalMapping", move || {
                        s.remove_smb_global_mapping(&r.remote_path)?;
                        Ok(pb::RemoveSmbGlobalMappingResponse { $($err: String::new())? })
                    })
                    .await
                }
            }
        }
    };
}

smb_module!(v1alpha1, error);
smb_module!(v1beta1, error);
smb_module!(v1beta2,);
smb_module!(v1,);
