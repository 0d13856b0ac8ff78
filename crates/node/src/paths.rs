//! Where things go on the node. Plans name Windows paths (`C:\k\kubelet.exe`); on another
//! OS (tests) they are mapped under a root directory (`<root>/C/k/kubelet.exe`) by
//! [`host_path`], so the file steps run the same code everywhere.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The node's directories and files. Defaults: the upstream layout (binaries in `C:\k`,
/// the kubelet's state in `C:\var\lib\kubelet`, kubeadm's in `C:\etc\kubernetes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    pub install_dir: String,
    pub kubelet_dir: String,
    pub kubernetes_dir: String,
    pub log_dir: String,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            install_dir: r"C:\k".into(),
            kubelet_dir: r"C:\var\lib\kubelet".into(),
            kubernetes_dir: r"C:\etc\kubernetes".into(),
            log_dir: r"C:\var\log\kubelet".into(),
        }
    }
}

/// The service runner's configuration file (`winkube-node kubelet-service --config`).
pub const SERVICE_CONFIG_FILE: &str = "kubelet-service.json";
/// The file kubeadm writes its kubelet flags to during `join`.
pub const KUBEADM_FLAGS_FILE: &str = "kubeadm-flags.env";

impl Layout {
    pub fn install(&self, name: &str) -> String {
        join(&self.install_dir, name)
    }
    pub fn kubelet(&self, name: &str) -> String {
        join(&self.kubelet_dir, name)
    }
    pub fn kubernetes(&self, name: &str) -> String {
        join(&self.kubernetes_dir, name)
    }
    pub fn log(&self, name: &str) -> String {
        join(&self.log_dir, name)
    }
    /// Directories `prepare` creates, parents first.
    pub fn directories(&self) -> Vec<String> {
        vec![
            self.install_dir.clone(),
            self.kubelet_dir.clone(),
            self.kubelet("pki"),
            self.kubernetes_dir.clone(),
            self.kubernetes("pki"),
            self.log_dir.clone(),
        ]
    }
}

/// `C:\k` + `kubelet.exe` → `C:\k\kubelet.exe`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('\\') {
        format!("{dir}{name}")
    } else {
        format!("{dir}\\{name}")
    }
}

/// An absolute Windows path: `C:\...` (no relative, UNC or device paths, no `..`).
pub fn check_windows_path(p: &str) -> Result<(), String> {
    let b = p.as_bytes();
    let drive = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\';
    if !drive {
        return Err(format!("{p:?} is not an absolute path such as C:\\k"));
    }
    if p.split('\\').any(|c| c == ".." || c == ".")
        || p.contains('/')
        || p.bytes().any(|c| c < 0x20 || b"<>\"|?*".contains(&c))
        || p[2..].contains(':')
    {
        return Err(format!(
            "{p:?} has a component or character not allowed in a Windows path"
        ));
    }
    Ok(())
}

/// Where a plan's Windows path lives on this host: the path itself on Windows (no root),
/// `<root>/<drive>/<components>` under a root.
pub fn host_path(root: Option<&Path>, windows_path: &str) -> PathBuf {
    match root {
        None => PathBuf::from(windows_path),
        Some(root) => {
            let mut p = root.to_path_buf();
            let (drive, rest) = windows_path.split_once(':').unwrap_or(("", windows_path));
            p.push(drive);
            for c in rest.split('\\').filter(|c| !c.is_empty()) {
                p.push(c);
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let l = Layout::default();
        assert_eq!(l.install("kubelet.exe"), r"C:\k\kubelet.exe");
        assert_eq!(join(r"C:\", "k"), r"C:\k");
        assert_eq!(
            host_path(Some(Path::new("/r")), r"C:\k\kubelet.exe"),
            PathBuf::from("/r/C/k/kubelet.exe")
        );
        assert!(check_windows_path(r"D:\kube").is_ok());
        for bad in [
            r"k\bin",
            r"\\server\share",
            r"C:\k\..\x",
            "C:/k",
            r"C:\a:b",
            r"C:\k?",
        ] {
            assert!(check_windows_path(bad).is_err(), "{bad:?} accepted");
        }
    }
}
