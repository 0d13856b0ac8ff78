//! The CSI proxy (to be written).
