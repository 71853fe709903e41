//! The field on the CPU: tract runs the MLP (split into its per-view and per-frame
//! parts, `split`), Rust does rays, encoding and compositing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::{TValue, TVec, TypedModel};

use super::cache::ViewCache;
use super::{
    f32s, ms, render, run_err, split, FieldInputs, FieldRenderer, FieldTimes, Rendered, SplitField,
};
use crate::model::{tensor, FieldSpec, Graph, ModelError};

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
    /// A stream pays for a view once.
    views: ViewCache<View>,
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
            views: ViewCache::default(),
        })
    }

    /// The view for yaw `view_deg`, computed on first use.
    pub fn view(&self, view_deg: f64) -> Result<Arc<View>, ModelError> {
        self.views.get_or_make(view_deg, || self.new_view(view_deg))
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

    /// Render F and A of latent `z` seen from yaw `view_deg` (as `FieldRenderer::render`,
    /// callable without the trait).
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
            (self.spec.height, self.spec.width),
        )
    }

    /// MACs of the per-view part for one view (paid once per φ).
    pub fn view_macs(&self, view: &View) -> u64 {
        self.split.view_macs_per_sample * view.inputs.rows() as u64
    }
}

impl FieldRenderer for CpuRenderer {
    fn render(&self, z: &[f32], view_deg: f64) -> Result<(Rendered, FieldTimes), ModelError> {
        CpuRenderer::render(self, z, view_deg)
    }

    fn device(&self) -> String {
        "cpu".into()
    }
}
