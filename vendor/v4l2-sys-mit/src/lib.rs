//! Raw V4L2 bindings: crates.io's `v4l2-sys-mit` 0.3.0 with its bindgen output checked
//! in (`bindings.rs`) instead of generated at build time, so no libclang is needed.
//!
//! The bindings were generated on x86_64 Linux and hold for any 64-bit Linux (LP64:
//! x86_64, aarch64): every struct's size, alignment and field offsets are asserted at
//! compile time (the `const _` blocks in `bindings.rs`, bindgen's layout tests), so a
//! build for a target whose layout differs fails instead of running with wrong offsets.
#![allow(clippy::all)]
#![allow(deref_nullptr)]
#![allow(non_camel_case_types)]
#![allow(non_snake_case)]
#![allow(non_upper_case_globals)]
#![allow(dead_code)]

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
compile_error!(
    "the checked-in V4L2 bindings are for 64-bit Linux; build imphmr with \
     --no-default-features (no V4L2) or regenerate them (vendor/v4l2-sys-mit/README.md)"
);

include!("bindings.rs");
