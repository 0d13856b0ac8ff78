//! Generated prost/tonic types, one module per API group and version.
//!
//! The proto package of every file is just the version (`v1`, `v1beta2`, ...):
//! it is part of each method path (`/v1.Disk/ListDiskLocations`), so it must
//! not be renamed. See `build.rs` and `proto/`.
#![allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]

pub mod disk {
    pub mod v1alpha1 {
        include!(concat!(env!("OUT_DIR"), "/disk/v1alpha1.rs"));
    }
    pub mod v1beta1 {
        include!(concat!(env!("OUT_DIR"), "/disk/v1beta1.rs"));
    }
    pub mod v1beta2 {
        include!(concat!(env!("OUT_DIR"), "/disk/v1beta2.rs"));
    }
    pub mod v1beta3 {
        include!(concat!(env!("OUT_DIR"), "/disk/v1beta3.rs"));
    }
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/disk/v1.rs"));
    }
}

pub mod filesystem {
    pub mod v1alpha1 {
        include!(concat!(env!("OUT_DIR"), "/filesystem/v1alpha1.rs"));
    }
    pub mod v1beta1 {
        include!(concat!(env!("OUT_DIR"), "/filesystem/v1beta1.rs"));
    }
    pub mod v1beta2 {
        include!(concat!(env!("OUT_DIR"), "/filesystem/v1beta2.rs"));
    }
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/filesystem/v1.rs"));
    }
    pub mod v2alpha1 {
        include!(concat!(env!("OUT_DIR"), "/filesystem/v2alpha1.rs"));
    }
}

pub mod volume {
    pub mod v1alpha1 {
        include!(concat!(env!("OUT_DIR"), "/volume/v1alpha1.rs"));
    }
    pub mod v1beta1 {
        include!(concat!(env!("OUT_DIR"), "/volume/v1beta1.rs"));
    }
    pub mod v1beta2 {
        include!(concat!(env!("OUT_DIR"), "/volume/v1beta2.rs"));
    }
    pub mod v1beta3 {
        include!(concat!(env!("OUT_DIR"), "/volume/v1beta3.rs"));
    }
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/volume/v1.rs"));
    }
    pub mod v2alpha1 {
        include!(concat!(env!("OUT_DIR"), "/volume/v2alpha1.rs"));
    }
}

pub mod smb {
    pub mod v1alpha1 {
        include!(concat!(env!("OUT_DIR"), "/smb/v1alpha1.rs"));
    }
    pub mod v1beta1 {
        include!(concat!(env!("OUT_DIR"), "/smb/v1beta1.rs"));
    }
    pub mod v1beta2 {
        include!(concat!(env!("OUT_DIR"), "/smb/v1beta2.rs"));
    }
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/smb/v1.rs"));
    }
}

pub mod iscsi {
    pub mod v1alpha1 {
        include!(concat!(env!("OUT_DIR"), "/iscsi/v1alpha1.rs"));
    }
    pub mod v1alpha2 {
        include!(concat!(env!("OUT_DIR"), "/iscsi/v1alpha2.rs"));
    }
}

pub mod system {
    pub mod v1alpha1 {
        include!(concat!(env!("OUT_DIR"), "/system/v1alpha1.rs"));
    }
}
