//! FLV container (filled in below).
