//! The CUDA kernel's source and the bundle dimensions it is compiled with. Not behind
//! the `cuda` feature: tests/cuda_kernel_emulated.rs runs the same source on the CPU.

use crate::model::FieldSpec;

/// `render_field.cu`; its dimensions come from [`defines`].
pub const KERNEL_SOURCE: &str = include_str!("render_field.cu");

/// The bundle's dimensions as `-D` options for [`KERNEL_SOURCE`].
pub fn defines(spec: &FieldSpec, latent_dim: usize) -> Vec<String> {
    [
        ("HIDDEN", spec.hidden),
        ("Z_DIM", latent_dim),
        ("POINT_FREQS", spec.point_freqs),
        ("DIR_FREQS", spec.dir_freqs),
        ("LAYERS", spec.layers),
        ("SKIP_LAYER", spec.skip_layer),
        ("FEAT", spec.feature_dim),
        ("SAMPLES", spec.samples),
    ]
    .iter()
    .map(|(k, v)| format!("-D{k}={v}"))
    .collect()
}
