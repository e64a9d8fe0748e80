//! The RTMP publishing client (being written).

/// Publisher settings.
pub struct PublisherConfig;
/// A publishing connection.
pub struct Publisher;
/// Publishing errors.
#[derive(Debug, thiserror::Error)]
#[error("publish")]
pub struct PublishError;
