//! The neural feature field, rendered for a viewing direction: rays and encoding
//! (`rays`), the field MLP (`field.onnx` under tract), compositing (`render`).

pub mod rays;
pub mod render;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use rays::FieldInputs;
pub use render::Rendered;

use crate::model::{tensor, FieldSpec, Graph, ModelError};

/// Milliseconds spent in the field graph and in the Rust around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldTimes {
    pub field_ms: f64,
    pub render_ms: f64,
}

/// Renders the field on the CPU: tract runs the MLP, Rust does the rest.
pub struct CpuRenderer {
    spec: FieldSpec,
    latent_dim: usize,
    /// Rays and encodings per view (keyed by the bits of φ): they depend only on the
    /// manifest and φ, so a stream pays for them once.
    inputs: Mutex<HashMap<u64, Arc<FieldInputs>>>,
}

impl CpuRenderer {
    pub fn new(spec: FieldSpec, latent_dim: usize) -> CpuRenderer {
        CpuRenderer {
            spec,
            latent_dim,
            inputs: Mutex::new(HashMap::new()),
        }
    }

    pub fn inputs_for(&self, view_deg: f64) -> Arc<FieldInputs> {
        // A poisoned lock only means another thread panicked mid-insert; the map
        // itself is still a valid cache.
        let mut cache = self.inputs.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(view_deg.to_bits())
            .or_insert_with(|| Arc::new(FieldInputs::new(&self.spec, view_deg)))
            .clone()
    }

    /// Render F and A of latent `z` seen from yaw `view_deg`.
    pub fn render(
        &self,
        graph: &Graph,
        z: &[f32],
        view_deg: f64,
    ) -> Result<(Rendered, FieldTimes), ModelError> {
        let t0 = Instant::now();
        let inp = self.inputs_for(view_deg);
        let s = &self.spec;
        let n = s.num_samples();
        let outputs = graph.run(vec![
            tensor(&[n, s.point_enc_dim()], &inp.points_enc)?,
            tensor(&[n, s.dir_enc_dim()], &inp.dirs_enc)?,
            tensor(&[1, self.latent_dim], z)?,
        ])?;
        let t1 = Instant::now();
        let rendered = render::composite(
            graph.f32s(&outputs[0])?,
            graph.f32s(&outputs[1])?,
            &inp.inside,
            &inp.deltas,
            s.feature_dim,
        );
        let t2 = Instant::now();
        Ok((
            rendered,
            FieldTimes {
                field_ms: ms(t1 - t0),
                render_ms: ms(t2 - t1),
            },
        ))
    }
}

pub(crate) fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
