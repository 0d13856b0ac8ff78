//! iscsi group: internal types and server.

use super::Node;
use crate::error::{Error, Result};
use crate::host::{IscsiAuth, IscsiLogin};
use crate::validate::{Iqn, Portal, Secret, user_name};

/// A target portal as sent on the wire (port 0 means 3260).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetPortal {
    /// Host name or IP.
    pub target_address: String,
    /// Port.
    pub target_port: u32,
}

/// A request naming a portal and, optionally, a target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetRequest {
    /// The portal; a missing portal is refused (upstream crashed on it).
    pub target_portal: Option<TargetPortal>,
    /// Target IQN (ignored for portal-only RPCs).
    pub iqn: String,
}

/// ConnectTarget request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectTargetRequest {
    /// Portal and target.
    pub target: TargetRequest,
    /// Raw `AuthenticationType` value (0 NONE, 1 ONE_WAY_CHAP, 2 MUTUAL_CHAP).
    pub auth_type: i32,
    /// CHAP user.
    pub chap_username: String,
    /// CHAP secret.
    pub chap_secret: Secret,
}

/// The iscsi group server.
#[derive(Debug, Clone)]
pub struct IscsiServer {
    node: Node,
}

fn portal(req: &Option<TargetPortal>) -> Result<Portal> {
    let p = req
        .as_ref()
        .ok_or_else(|| Error::invalid("target_portal", "target_portal is required"))?;
    if p.target_address.is_empty() {
        return Err(Error::invalid(
            "target_portal.target_address",
            "target address is empty",
        ));
    }
    Portal::new(&p.target_address, p.target_port)
}

fn portal_and_iqn(req: &TargetRequest) -> Result<(Portal, Iqn)> {
    Ok((portal(&req.target_portal)?, Iqn::parse("iqn", &req.iqn)?))
}

fn to_wire(p: &Portal) -> TargetPortal {
    TargetPortal {
        target_address: p.address().to_string(),
        target_port: u32::from(p.port()),
    }
}

impl IscsiServer {
    /// A server over `node`.
    pub fn new(node: Node) -> Self {
        IscsiServer { node }
    }

    /// Adds the portal.
    pub fn add_target_portal(&self, portal_req: &Option<TargetPortal>) -> Result<()> {
        let p = portal(portal_req)?;
        Ok(self.node.host.add_target_portal(&p)?)
    }

    /// IQNs behind the portal.
    pub fn discover_target_portal(&self, portal_req: &Option<TargetPortal>) -> Result<Vec<String>> {
        let p = portal(portal_req)?;
        let iqns = self.node.host.discover_targets(&p)?;
        Ok(iqns.into_iter().map(|i| i.as_str().to_string()).collect())
    }

    /// Removes the portal.
    pub fn remove_target_portal(&self, portal_req: &Option<TargetPortal>) -> Result<()> {
        let p = portal(portal_req)?;
        Ok(self.node.host.remove_target_portal(&p)?)
    }

    /// Configured portals.
    pub fn list_target_portals(&self) -> Result<Vec<TargetPortal>> {
        Ok(self
            .node
            .host
            .list_target_portals()?
            .iter()
            .map(to_wire)
            .collect())
    }

    /// Logs in to the target unless a session exists.
    pub fn connect_target(&self, req: ConnectTargetRequest) -> Result<()> {
        let (p, iqn) = portal_and_iqn(&req.target)?;
        let auth = match req.auth_type {
            0 => IscsiAuth::None,
            1 => IscsiAuth::OneWayChap,
            2 => IscsiAuth::MutualChap,
            other => {
                return Err(Error::invalid(
                    "auth_type",
                    format!("invalid authentication type authType={other}"),
                ));
            }
        };
        let login = IscsiLogin {
            auth,
            chap_username: user_name("chap_username", &req.chap_username)?,
            chap_secret: req.chap_secret,
        };
        let host = &self.node.host;
        if host.is_target_connected(&p, &iqn)? {
            return Ok(());
        }
        Ok(host.connect_target(&p, &iqn, &login)?)
    }

    /// Logs out of the target if connected.
    pub fn disconnect_target(&self, req: &TargetRequest) -> Result<()> {
        let (p, iqn) = portal_and_iqn(req)?;
        let host = &self.node.host;
        if !host.is_target_connected(&p, &iqn)? {
            return Ok(());
        }
        Ok(host.disconnect_target(&p, &iqn)?)
    }

    /// Disk numbers (decimal strings) of a connected target; empty if not connected.
    pub fn get_target_disks(&self, req: &TargetRequest) -> Result<Vec<String>> {
        let (p, iqn) = portal_and_iqn(req)?;
        let host = &self.node.host;
        if !host.is_target_connected(&p, &iqn)? {
            return Ok(Vec::new());
        }
        Ok(host
            .target_disks(&p, &iqn)?
            .iter()
            .map(u32::to_string)
            .collect())
    }

    /// Sets the initiator's mutual CHAP secret.
    pub fn set_mutual_chap_secret(&self, secret: &Secret) -> Result<()> {
        if secret.is_empty() {
            return Err(Error::invalid("MutualChapSecret", "secret is empty"));
        }
        Ok(self.node.host.set_mutual_chap_secret(secret)?)
    }
}
