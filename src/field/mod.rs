//! The neural feature field, rendered for a viewing direction: rays and encoding
//! (`rays`), compositing (`render`), and one renderer interface (`FieldRenderer`) with
//! two implementations chosen at run time (`open`): the CPU (`cpu`: the field MLP under
//! tract, split into its per-view and per-frame parts by `split`) and CUDA (`cuda`: one
//! kernel, `kernel`, with the weights packed by `weights`). Both keep what a view costs
//! once in the same per-view cache (`cache`).

pub mod cache;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod kernel;
pub mod rays;
pub mod render;
pub mod split;
pub mod weights;

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::TValue;

pub use cpu::{CpuRenderer, View};
pub use rays::FieldInputs;
pub use render::Rendered;
pub use split::SplitField;

use crate::model::{FieldSpec, ModelError};

/// Milliseconds spent in the field graph and in the Rust around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldTimes {
    pub field_ms: f64,
    pub render_ms: f64,
}

/// Renders the field of a latent `z` for a viewing direction: what the engine asks of
/// every backend.
pub trait FieldRenderer: Send + Sync {
    /// F and A of `z` seen from yaw `view_deg`, and what it took.
    fn render(&self, z: &[f32], view_deg: f64) -> Result<(Rendered, FieldTimes), ModelError>;
    /// Where it renders, for reports: "cpu" or "cuda: <device>".
    fn device(&self) -> String;
}

/// Where the feature field is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FieldDevice {
    /// CUDA when this build has it and a GPU with its driver is there, else the CPU
    #[default]
    Auto,
    /// Always the CPU (tract)
    Cpu,
    /// CUDA or fail (builds with the `cuda` feature)
    Cuda,
}

/// The renderer for `device`: `cpu` itself, or CUDA. With `Auto`, a build with the `cuda`
/// feature on a machine without a usable GPU says why once and uses the CPU.
pub fn open(
    device: FieldDevice,
    cpu: &Arc<CpuRenderer>,
    spec: &FieldSpec,
    latent_dim: usize,
    field_path: &Path,
) -> Result<Arc<dyn FieldRenderer>, ModelError> {
    let unavailable = |msg: String| ModelError::FieldDevice { msg };
    if device == FieldDevice::Cpu {
        return Ok(cpu.clone());
    }
    #[cfg(feature = "cuda")]
    match cuda::CudaRenderer::new(spec, latent_dim, field_path) {
        Ok(r) => {
            tracing::info!("field renders on CUDA: {}", r.device);
            Ok(Arc::new(r))
        }
        Err(why) if device == FieldDevice::Auto => {
            tracing::warn!("field renders on the CPU: {why}");
            Ok(cpu.clone())
        }
        Err(why) => Err(unavailable(why)),
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (spec, latent_dim, field_path);
        match device {
            FieldDevice::Cuda => Err(unavailable(
                "this build has no CUDA support (cargo feature cuda)".into(),
            )),
            _ => Ok(cpu.clone()),
        }
    }
}

pub(crate) fn run_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Run {
        path: path.to_path_buf(),
        msg: format!("{e:#}").replace('\n', " "),
    }
}

pub(crate) fn f32s<'a>(path: &Path, value: &'a TValue) -> Result<&'a [f32], ModelError> {
    value
        .try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>())
        .map_err(|e| run_err(path, e))
}

pub(crate) fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
