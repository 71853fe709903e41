//! The neural feature field, rendered for a viewing direction: rays and encoding
//! (`rays`), the field MLP (`field.onnx` under tract, split into its per-view and
//! per-frame parts by `split`), compositing (`render`).

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod kernel;
pub mod rays;
pub mod render;
pub mod split;
pub mod weights;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tract_onnx::prelude::{TValue, TVec, TypedModel};

pub use rays::FieldInputs;
pub use render::Rendered;
pub use split::SplitField;

use crate::model::{tensor, FieldSpec, Graph, ModelError};

/// Milliseconds spent in the field graph and in the Rust around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldTimes {
    pub field_ms: f64,
    pub render_ms: f64,
}

/// What one viewing direction costs once: its samples inside the box, the field's
/// per-view values on them, and the per-frame plan sized for them.
pub struct View {
    pub inputs: FieldInputs,
    cut: TVec<TValue>,
    /// None when no sample lies inside the box (the rendering is empty).
    plan: Option<split::FramePlan>,
    /// Multiply-accumulates of the per-frame part for this view.
    pub frame_macs: u64,
}

/// Renders the field on the CPU: tract runs the MLP, Rust does the rest.
pub struct CpuRenderer {
    spec: FieldSpec,
    latent_dim: usize,
    path: PathBuf,
    split: SplitField,
    /// Per view (keyed by the bits of φ): a stream pays for a view once.
    views: Mutex<HashMap<u64, Arc<View>>>,
}

impl CpuRenderer {
    /// `field_model`: the decluttered field graph (`Bundle::field_model`) read from `path`.
    pub fn new(
        spec: FieldSpec,
        latent_dim: usize,
        field_model: &TypedModel,
        path: &Path,
    ) -> Result<CpuRenderer, ModelError> {
        let split = SplitField::new(field_model).map_err(|e| run_err(path, e))?;
        Ok(CpuRenderer {
            spec,
            latent_dim,
            path: path.to_path_buf(),
            split,
            views: Mutex::new(HashMap::new()),
        })
    }

    /// The view for yaw `view_deg`, computed on first use.
    pub fn view(&self, view_deg: f64) -> Result<Arc<View>, ModelError> {
        // A poisoned lock only means another thread panicked mid-insert; the map
        // itself is still a valid cache.
        let mut cache = self.views.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(&view_deg.to_bits()) {
            return Ok(v.clone());
        }
        let view = Arc::new(self.new_view(view_deg)?);
        cache.insert(view_deg.to_bits(), view.clone());
        Ok(view)
    }

    fn new_view(&self, view_deg: f64) -> Result<View, ModelError> {
        let s = &self.spec;
        let inputs = FieldInputs::new(s, view_deg);
        let n = inputs.rows();
        if n == 0 {
            return Ok(View {
                inputs,
                cut: TVec::new(),
                plan: None,
                frame_macs: 0,
            });
        }
        let cut = self
            .split
            .run_view(
                tensor(&[n, s.point_enc_dim()], &inputs.points_enc)?,
                tensor(&[n, s.dir_enc_dim()], &inputs.dirs_enc)?,
            )
            .map_err(|e| run_err(&self.path, e))?;
        let (plan, frame_macs) = self
            .split
            .frame_plan(n)
            .map_err(|e| run_err(&self.path, e))?;
        Ok(View {
            inputs,
            cut,
            plan: Some(plan),
            frame_macs,
        })
    }

    /// Render F and A of latent `z` seen from yaw `view_deg`.
    pub fn render(&self, z: &[f32], view_deg: f64) -> Result<(Rendered, FieldTimes), ModelError> {
        let t0 = Instant::now();
        let view = self.view(view_deg)?;
        let Some(plan) = &view.plan else {
            return Ok((self.composite(&view, &[], &[]), FieldTimes::default()));
        };
        let outputs = plan
            .run(&view.cut, tensor(&[1, self.latent_dim], z)?)
            .map_err(|e| run_err(&self.path, e))?;
        let t1 = Instant::now();
        let rendered = self.composite(
            &view,
            f32s(&self.path, &outputs[0])?,
            f32s(&self.path, &outputs[1])?,
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

    /// The same rendering with the field graph run whole (no per-view precompute): the
    /// reference the split is tested against.
    pub fn render_unsplit(
        &self,
        field: &Graph,
        z: &[f32],
        view_deg: f64,
    ) -> Result<Rendered, ModelError> {
        let view = self.view(view_deg)?;
        let (inp, s) = (&view.inputs, &self.spec);
        let n = inp.rows();
        let outputs = field.run(vec![
            tensor(&[n, s.point_enc_dim()], &inp.points_enc)?,
            tensor(&[n, s.dir_enc_dim()], &inp.dirs_enc)?,
            tensor(&[1, self.latent_dim], z)?,
        ])?;
        Ok(self.composite(&view, field.f32s(&outputs[0])?, field.f32s(&outputs[1])?))
    }

    fn composite(&self, view: &View, sigma: &[f32], feature: &[f32]) -> Rendered {
        let inp = &view.inputs;
        render::composite(
            sigma,
            feature,
            &inp.ray_rows,
            &inp.row_depth,
            &inp.deltas,
            self.spec.feature_dim,
        )
    }

    /// MACs of the per-view part for one view (paid once per φ).
    pub fn view_macs(&self, view: &View) -> u64 {
        self.split.view_macs_per_sample * view.inputs.rows() as u64
    }
}

fn run_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Run {
        path: path.to_path_buf(),
        msg: format!("{e:#}").replace('\n', " "),
    }
}

fn f32s<'a>(path: &Path, value: &'a TValue) -> Result<&'a [f32], ModelError> {
    value
        .try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>())
        .map_err(|e| run_err(path, e))
}

pub(crate) fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
