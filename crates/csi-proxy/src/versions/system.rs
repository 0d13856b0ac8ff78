//! system: v1alpha1.

use tonic::{Request, Response, Status};

use super::call;
use crate::core::system::{ServiceStatus, StartType, SystemServer};

type R<T> = Result<Response<T>, Status>;

/// system v1alpha1.
pub mod v1alpha1 {
    use super::*;
    pub use crate::wire::system::v1alpha1 as pb;
    use pb::system_server::{System, SystemServer as Grpc};

    /// The gRPC service.
    #[derive(Debug, Clone)]
    pub struct Service(pub SystemServer);

    /// The tonic server for this version.
    pub fn server(core: SystemServer) -> Grpc<Service> {
        Grpc::new(Service(core))
    }

    /// Internal → wire start type.
    pub fn start_type(t: StartType) -> pb::StartType {
        match t {
            StartType::Boot => pb::StartType::Boot,
            StartType::System => pb::StartType::System,
            StartType::Automatic => pb::StartType::Automatic,
            StartType::Manual => pb::StartType::Manual,
            StartType::Disabled => pb::StartType::Disabled,
        }
    }

    /// Internal → wire service status.
    pub fn status(s: ServiceStatus) -> pb::ServiceStatus {
        match s {
            ServiceStatus::Unknown => pb::ServiceStatus::Unknown,
            ServiceStatus::Stopped => pb::ServiceStatus::Stopped,
            ServiceStatus::StartPending => pb::ServiceStatus::StartPending,
            ServiceStatus::StopPending => pb::ServiceStatus::StopPending,
            ServiceStatus::Running => pb::ServiceStatus::Running,
            ServiceStatus::ContinuePending => pb::ServiceStatus::ContinuePending,
            ServiceStatus::PausePending => pb::ServiceStatus::PausePending,
            ServiceStatus::Paused => pb::ServiceStatus::Paused,
        }
    }

    #[tonic::async_trait]
    impl System for Service {
        async fn get_bios_serial_number(
            &self,
            _r: Request<pb::GetBiosSerialNumberRequest>,
        ) -> R<pb::GetBiosSerialNumberResponse> {
            let s = self.0.clone();
            call("GetBIOSSerialNumber", move || {
                Ok(pb::GetBiosSerialNumberResponse {
                    serial_number: s.get_bios_serial_number()?,
                })
            })
            .await
        }

        async fn start_service(
            &self,
            r: Request<pb::StartServiceRequest>,
        ) -> R<pb::StartServiceResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("StartService", move || {
                s.start_service(&r.name)
                    .map(|()| pb::StartServiceResponse {})
            })
            .await
        }

        async fn stop_service(
            &self,
            r: Request<pb::StopServiceRequest>,
        ) -> R<pb::StopServiceResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("StopService", move || {
                s.stop_service(&r.name, r.force)
                    .map(|()| pb::StopServiceResponse {})
            })
            .await
        }

        async fn get_service(
            &self,
            r: Request<pb::GetServiceRequest>,
        ) -> R<pb::GetServiceResponse> {
            let (s, r) = (self.0.clone(), r.into_inner());
            call("GetService", move || {
                let info = s.get_service(&r.name)?;
                Ok(pb::GetServiceResponse {
                    display_name: info.display_name,
                    start_type: start_type(info.start_type) as i32,
                    status: status(info.status) as i32,
                })
            })
            .await
        }
    }
}
