//! system group: internal types and server.

use super::Node;
use crate::error::{Error, Result};
pub use crate::host::{ServiceInfo, ServiceStatus, StartType};
use crate::validate::ServiceName;

/// The system group server.
#[derive(Debug, Clone)]
pub struct SystemServer {
    node: Node,
}

impl SystemServer {
    /// A server over `node`.
    pub fn new(node: Node) -> Self {
        SystemServer { node }
    }

    fn allowed(&self, name: &ServiceName) -> Result<()> {
        if self
            .node
            .policy
            .allowed_services
            .iter()
            .any(|s| s.key() == name.key())
        {
            Ok(())
        } else {
            Err(Error::Denied(format!(
                "service {} is not in the allowed services (--allowed-service)",
                name.as_str()
            )))
        }
    }

    /// The BIOS serial number.
    pub fn get_bios_serial_number(&self) -> Result<String> {
        Ok(self.node.host.bios_serial_number()?)
    }

    /// State of a service.
    pub fn get_service(&self, name: &str) -> Result<ServiceInfo> {
        let name = ServiceName::parse("name", name)?;
        Ok(self.node.host.get_service(&name)?)
    }

    /// Starts an allowed service.
    pub fn start_service(&self, name: &str) -> Result<()> {
        let name = ServiceName::parse("name", name)?;
        self.allowed(&name)?;
        Ok(self.node.host.start_service(&name)?)
    }

    /// Stops an allowed service (and, with `force`, its running dependents).
    pub fn stop_service(&self, name: &str, force: bool) -> Result<()> {
        let name = ServiceName::parse("name", name)?;
        self.allowed(&name)?;
        Ok(self.node.host.stop_service(&name, force)?)
    }
}
