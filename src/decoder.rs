//! H.264 decoding (being written).
