//! The one error type of the crate, and how it reaches a gRPC client.

/// Everything that can go wrong while serving a request.
///
/// On the wire every variant becomes gRPC status `Unknown` (2) with the
/// `Display` text as message, as kubernetes-csi/csi-proxy does: drivers log or
/// match those messages, and `Unimplemented` is reserved for unknown methods.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A request field failed validation; nothing was sent to the host.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The request field, as named in the proto (`target_path`, ...).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An older API version carries a value that cannot be converted.
    #[error("failed to convert {field}: {reason}")]
    Conversion {
        /// The versioned field.
        field: &'static str,
        /// Why it could not be converted.
        reason: String,
    },
    /// The request is refused by node policy (allow-lists), not by syntax.
    #[error("permission denied: {0}")]
    Denied(String),
    /// The host layer failed.
    #[error("{0}")]
    Host(#[from] HostError),
    /// The host operation did not finish, for example a blocking task panicked.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Conversion`].
    pub fn conversion(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Conversion {
            field,
            reason: reason.into(),
        }
    }
}

/// An error reported by a host backend (WMI, Win32, or the in-memory model).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The named object does not exist on the host.
    #[error("{0} not found")]
    NotFound(String),
    /// The host refused or failed the operation.
    #[error("{0}")]
    Failed(String),
    /// This backend cannot do the operation on this platform.
    #[error("{0} is not supported by this host backend")]
    Unsupported(&'static str),
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        // Messages quote client-chosen paths: never hand back raw bidi or control characters.
        tonic::Status::unknown(crate::validate::escaped(&e.to_string()).into_owned())
    }
}

/// Result of core and conversion code.
pub type Result<T, E = Error> = std::result::Result<T, E>;
/// Result of a host backend call.
pub type HostResult<T> = std::result::Result<T, HostError>;
