//! winkube-csi-proxy (being written).
pub mod wire;
