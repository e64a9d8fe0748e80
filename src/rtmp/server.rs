//! The embedded RTMP server (being written).

/// Server settings.
pub struct ServerConfig;
/// The running server.
pub struct RtmpServer;
/// Server errors.
#[derive(Debug, thiserror::Error)]
#[error("server")]
pub struct ServerError;
