//! The RTMP playing client (being written).
