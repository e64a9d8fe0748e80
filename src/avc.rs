//! H.264 bitstream helpers (filled in below).
