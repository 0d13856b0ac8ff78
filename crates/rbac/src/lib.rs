//! Kubernetes RBAC evaluation (to be written).
