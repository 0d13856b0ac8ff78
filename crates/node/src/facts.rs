//! What the node is like before `prepare`: read from Windows by [`crate::windows`], or from
//! a JSON file (`--facts FILE`, how plans are made and tested on another OS).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use winkube_api::windows::WindowsBuild;

use crate::Error;
use crate::artifacts::sha256_file;
use crate::paths::host_path;

/// The node's facts. Paths are Windows paths as in the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeFacts {
    /// `major.minor.build` of the running Windows (revision dropped).
    pub windows_build: Option<WindowsBuild>,
    /// The Windows `Containers` feature is enabled (its Host Compute Service exists).
    pub containers_feature: bool,
    /// containerd's pipe `\\.\pipe\containerd-containerd` exists (containerd is running).
    pub containerd_pipe: bool,
    /// Windows waits for a reboot (component servicing, Windows Update or pending renames).
    pub reboot_pending: bool,
    /// Directories that exist.
    #[serde(default)]
    pub directories: Vec<String>,
    /// Files that exist, with the lower-case hex sha256 of their content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The kubelet service, if one is registered.
    #[serde(default)]
    pub service: Option<ServiceFacts>,
    /// A firewall rule with winkube's name exists.
    #[serde(default)]
    pub firewall_rule: bool,
}

/// A registered service as the service manager reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceFacts {
    /// The command line the service manager starts (`lpBinaryPathName`).
    pub command_line: String,
    pub dependencies: Vec<String>,
    /// `automatic`, `manual`, `disabled`, ...
    pub start: String,
    /// Restart actions are set for failures.
    pub restarts_on_failure: bool,
}

impl NodeFacts {
    /// Reads a facts file (JSON).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("facts file {}", path.display()), e.to_string()))
    }

    /// Fills `directories` and `files` from the file system for the given Windows paths
    /// (under `root` on another OS). The same code reads the real node on Windows.
    pub fn read_files(
        &mut self,
        root: Option<&Path>,
        directories: &[String],
        files: &[String],
    ) -> Result<(), Error> {
        self.directories = directories
            .iter()
            .filter(|d| host_path(root, d).is_dir())
            .cloned()
            .collect();
        self.files.clear();
        for f in files {
            let p = host_path(root, f);
            if p.exists() {
                self.files.insert(f.clone(), sha256_file(&p)?);
            }
        }
        Ok(())
    }
}
