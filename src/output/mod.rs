//! What leaves the process. For now: one JSON line per inference.

pub mod json;
