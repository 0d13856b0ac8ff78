//! The admission HTTPS server (to be written).
