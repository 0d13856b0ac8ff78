//! disk group: internal types and server.

use std::collections::BTreeMap;

use super::guard::Guard;
use super::{Node, to_i64};
use crate::error::{Error, HostError, Result};
pub use crate::host::{DiskIds, DiskLocation};
use crate::validate::quoted;

/// ListDiskLocations response (all versions; old ones stringify the keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListDiskLocationsResponse {
    /// Disk number → location.
    pub disk_locations: BTreeMap<u32, DiskLocation>,
}

/// PartitionDisk request (old versions carry the number as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionDiskRequest {
    /// Disk number.
    pub disk_number: u32,
}

/// ListDiskIDs response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListDiskIdsResponse {
    /// Disk number → identifiers.
    pub disk_ids: BTreeMap<u32, DiskIds>,
}

/// GetDiskStats / DiskStats request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetDiskStatsRequest {
    /// Disk number.
    pub disk_number: u32,
}

/// GetDiskStats / DiskStats response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetDiskStatsResponse {
    /// Disk size in bytes.
    pub total_bytes: i64,
}

/// SetDiskState / SetAttachState request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetDiskStateRequest {
    /// Disk number.
    pub disk_number: u32,
    /// Requested state.
    pub is_online: bool,
}

/// GetDiskState / GetAttachState request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetDiskStateRequest {
    /// Disk number.
    pub disk_number: u32,
}

/// GetDiskState / GetAttachState response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetDiskStateResponse {
    /// Whether the disk is online.
    pub is_online: bool,
}

/// GetDiskNumberByName request (v1alpha1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetDiskNumberByNameRequest {
    /// The page83 identifier to look for.
    pub disk_name: String,
}

/// GetDiskNumberByName response (v1alpha1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetDiskNumberByNameResponse {
    /// Disk number.
    pub disk_number: u32,
}

/// The disk group server.
#[derive(Debug, Clone)]
pub struct DiskServer {
    node: Node,
}

impl DiskServer {
    /// A server over `node`.
    pub fn new(node: Node) -> Self {
        DiskServer { node }
    }

    /// Locations of all disks.
    pub fn list_disk_locations(&self) -> Result<ListDiskLocationsResponse> {
        Ok(ListDiskLocationsResponse {
            disk_locations: self.node.host.list_disk_locations()?,
        })
    }

    /// Initializes (GPT) and partitions the disk unless already done.
    pub fn partition_disk(&self, req: PartitionDiskRequest) -> Result<()> {
        let host = &self.node.host;
        let n = req.disk_number;
        Guard(&self.node).disk(n, "partitioned")?;
        if !host.is_disk_initialized(n)? {
            host.initialize_disk(n)?;
        }
        if !host.basic_partitions_exist(n)? {
            host.create_basic_partition(n)?;
        }
        Ok(())
    }

    /// Refreshes the host storage cache.
    pub fn rescan(&self) -> Result<()> {
        Ok(self.node.host.rescan()?)
    }

    /// page83 and serial number of all disks.
    pub fn list_disk_ids(&self) -> Result<ListDiskIdsResponse> {
        Ok(ListDiskIdsResponse {
            disk_ids: self.node.host.list_disk_ids()?,
        })
    }

    /// Size of a disk.
    pub fn get_disk_stats(&self, req: GetDiskStatsRequest) -> Result<GetDiskStatsResponse> {
        let size = self.node.host.disk_size(req.disk_number)?;
        Ok(GetDiskStatsResponse {
            total_bytes: to_i64("disk size", size)?,
        })
    }

    /// Brings a disk online or offline; nothing is done if it already is.
    pub fn set_disk_state(&self, req: SetDiskStateRequest) -> Result<()> {
        let host = &self.node.host;
        if !req.is_online {
            Guard(&self.node).disk(req.disk_number, "taken offline")?;
        }
        if host.is_disk_online(req.disk_number)? != req.is_online {
            host.set_disk_online(req.disk_number, req.is_online)?;
        }
        Ok(())
    }

    /// Online state of a disk.
    pub fn get_disk_state(&self, req: GetDiskStateRequest) -> Result<GetDiskStateResponse> {
        Ok(GetDiskStateResponse {
            is_online: self.node.host.is_disk_online(req.disk_number)?,
        })
    }

    /// Finds the disk whose page83 identifier is `disk_name`.
    pub fn get_disk_number_by_name(
        &self,
        req: GetDiskNumberByNameRequest,
    ) -> Result<GetDiskNumberByNameResponse> {
        if req.disk_name.is_empty() {
            return Err(Error::invalid("disk_name", "disk name is empty"));
        }
        if req.disk_name.len() > 1024 || req.disk_name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "disk_name",
                format!("{} is not a page83 identifier", quoted(&req.disk_name)),
            ));
        }
        let ids = self.node.host.list_disk_ids()?;
        ids.into_iter()
            .find(|(_, id)| id.page83 == req.disk_name)
            .map(|(n, _)| GetDiskNumberByNameResponse { disk_number: n })
            .ok_or_else(|| {
                Error::Host(HostError::Failed(format!(
                    "could not find disk with Page83 ID {}: not found",
                    req.disk_name
                )))
            })
    }
}
