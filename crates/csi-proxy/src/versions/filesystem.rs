//! filesystem: v1alpha1, v1beta1, v1beta2, v1, v2alpha1.
//!
//! v1alpha1/v1beta1 carry a `PathContext` that upstream ignores; it is converted
//! into the internal type (and ignored there, see [`PathContext`]). Their
//! `error` response strings are always empty: errors are gRPC statuses.

use tonic::{Request, Response, Status};

use super::call;
use crate::core::filesystem::{
    CreateSymlinkRequest, FilesystemServer, PathContext, PathRequest, RmdirRequest,
};

type R<T> = Result<Response<T>, Status>;

/// Wire `PathContext` value → internal.
pub fn context(raw: i32) -> PathContext {
    match raw {
        0 => PathContext::Plugin,
        1 => PathContext::Pod,
        other => PathContext::Other(other),
    }
}

macro_rules! fs_v1_module {
    ($v:ident { $($extra:tt)* }) => {
        /// filesystem with v1 messages.
        pub mod $v {
            use super::*;
            pub use crate::wire::filesystem::$v as pb;
            use pb::filesystem_server::{Filesystem, FilesystemServer as Grpc};

            /// The gRPC service.
            #[derive(Debug, Clone)]
            pub struct Service(pub FilesystemServer);

            /// The tonic server for this version.
            pub fn server(core: FilesystemServer) -> Grpc<Service> {
                Grpc::new(Service(core))
            }

            fn path(p: String) -> PathRequest {
                PathRequest { path: p, context: PathContext::Unspecified }
            }

            #[tonic::async_trait]
            impl Filesystem for Service {
                async fn path_exists(&self, r: Request<pb::PathExistsRequest>) -> R<pb::PathExistsResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("PathExists", move || Ok(pb::PathExistsResponse { exists: s.path_exists(path(r.path))? })).await
                }

                async fn mkdir(&self, r: Request<pb::MkdirRequest>) -> R<pb::MkdirResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("Mkdir", move || s.mkdir(path(r.path)).map(|()| pb::MkdirResponse {})).await
                }

                async fn rmdir(&self, r: Request<pb::RmdirRequest>) -> R<pb::RmdirResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("Rmdir", move || {
                        s.rmdir(RmdirRequest { path: r.path, force: r.force, context: PathContext::Unspecified })?;
                        Ok(pb::RmdirResponse {})
                    })
                    .await
                }

                async fn create_symlink(&self, r: Request<pb::CreateSymlinkRequest>) -> R<pb::CreateSymlinkResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("CreateSymlink", move || {
                        s.create_symlink(CreateSymlinkRequest { source_path: r.source_path, target_path: r.target_path })?;
                        Ok(pb::CreateSymlinkResponse {})
                    })
                    .await
                }

                async fn is_symlink(&self, r: Request<pb::IsSymlinkRequest>) -> R<pb::IsSymlinkResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("IsSymlink", move || Ok(pb::IsSymlinkResponse { is_symlink: s.is_symlink(path(r.path))? })).await
                }

                $($extra)*
            }
        }
    };
}

fs_v1_module!(v1 {});
fs_v1_module!(v1beta2 {});
fs_v1_module!(v2alpha1 {
    async fn rmdir_contents(&self, r: Request<pb::RmdirContentsRequest>) -> R<pb::RmdirContentsResponse> {
        let (s, r) = (self.0.clone(), r.into_inner());
        call("RmdirContents", move || s.rmdir_contents(path(r.path)).map(|()| pb::RmdirContentsResponse {})).await
    }
});

macro_rules! fs_old_module {
    ($v:ident) => {
        /// filesystem with the v1alpha1 messages (LinkPath, IsMountPoint, PathContext).
        pub mod $v {
            use super::*;
            pub use crate::wire::filesystem::$v as pb;
            use pb::filesystem_server::{Filesystem, FilesystemServer as Grpc};

            /// The gRPC service.
            #[derive(Debug, Clone)]
            pub struct Service(pub FilesystemServer);

            /// The tonic server for this version.
            pub fn server(core: FilesystemServer) -> Grpc<Service> {
                Grpc::new(Service(core))
            }

            /// Wire → internal PathExists.
            pub fn path_exists_request(r: pb::PathExistsRequest) -> PathRequest {
                PathRequest {
                    path: r.path,
                    context: context(r.context),
                }
            }

            /// Wire → internal Rmdir.
            pub fn rmdir_request(r: pb::RmdirRequest) -> RmdirRequest {
                RmdirRequest {
                    path: r.path,
                    force: r.force,
                    context: context(r.context),
                }
            }

            #[tonic::async_trait]
            impl Filesystem for Service {
                async fn path_exists(
                    &self,
                    r: Request<pb::PathExistsRequest>,
                ) -> R<pb::PathExistsResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("PathExists", move || {
                        Ok(pb::PathExistsResponse {
                            error: String::new(),
                            exists: s.path_exists(path_exists_request(r))?,
                        })
                    })
                    .await
                }

                async fn mkdir(&self, r: Request<pb::MkdirRequest>) -> R<pb::MkdirResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("Mkdir", move || {
                        s.mkdir(PathRequest {
                            path: r.path,
                            context: context(r.context),
                        })?;
                        Ok(pb::MkdirResponse {
                            error: String::new(),
                        })
                    })
                    .await
                }

                async fn rmdir(&self, r: Request<pb::RmdirRequest>) -> R<pb::RmdirResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("Rmdir", move || {
                        s.rmdir(rmdir_request(r))?;
                        Ok(pb::RmdirResponse {
                            error: String::new(),
                        })
                    })
                    .await
                }

                async fn link_path(
                    &self,
                    r: Request<pb::LinkPathRequest>,
                ) -> R<pb::LinkPathResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("LinkPath", move || {
                        s.create_symlink(CreateSymlinkRequest {
                            source_path: r.source_path,
                            target_path: r.target_path,
                        })?;
                        Ok(pb::LinkPathResponse {
                            error: String::new(),
                        })
                    })
                    .await
                }

                async fn is_mount_point(
                    &self,
                    r: Request<pb::IsMountPointRequest>,
                ) -> R<pb::IsMountPointResponse> {
                    let (s, r) = (self.0.clone(), r.into_inner());
                    call("IsMountPoint", move || {
                        let v = s.is_symlink(PathRequest {
                            path: r.path,
                            context: PathContext::Unspecified,
                        })?;
                        Ok(pb::IsMountPointResponse {
                            error: String::new(),
                            is_mount_point: v,
                        })
                    })
                    .await
                }
            }
        }
    };
}

fs_old_module!(v1alpha1);
fs_old_module!(v1beta1);
