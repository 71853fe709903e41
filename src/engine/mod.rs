//! The whole network for one frame: crop → encoder → field + rendering → head, and nothing
//! after it (what its numbers mean as a body is `body`). Each stage is also callable alone (the parity tests feed each one the reference's
//! input, so a mismatch points at one stage).

pub mod output;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;

use crate::crop::{self, PersonBox};
pub use crate::field::FieldDevice;
use crate::field::{self, ms, CpuRenderer, FieldRenderer, Rendered};
use crate::model::{tensor, Bundle, ModelError};
pub use output::{NetworkOutput, Regressed, StageTimes, ViewRegressed};

pub struct Engine {
    pub bundle: Bundle,
    /// The CPU renderer, kept whichever device renders the frames (per-view costs, the
    /// unsplit reference path).
    cpu: Arc<CpuRenderer>,
    /// What renders the frames: `cpu` or CUDA (`field::open`).
    renderer: Arc<dyn FieldRenderer>,
}

/// Let tract's matrix kernels use `threads` threads (process-wide; call once, early).
pub fn set_threads(threads: usize) {
    use tract_linalg::multithread::{set_default_executor, Executor};
    if threads > 1 {
        set_default_executor(Executor::multithread(threads));
    } else {
        set_default_executor(Executor::SingleThread);
    }
}

fn output_vec(
    out: &tract_onnx::prelude::TValue,
    graph: &crate::model::Graph,
) -> Result<Vec<f32>, ModelError> {
    graph.f32s(out).map(|s| s.to_vec())
}

impl Engine {
    /// Load a bundle; the field renders on CUDA where possible (`FieldDevice::Auto`).
    pub fn load(dir: &Path) -> Result<Engine, ModelError> {
        Engine::load_on(dir, FieldDevice::Auto)
    }

    /// Load a bundle, rendering the field on `device`. With `Auto`, a build with the
    /// `cuda` feature on a machine without a usable GPU says why once and uses the CPU.
    pub fn load_on(dir: &Path, device: FieldDevice) -> Result<Engine, ModelError> {
        let bundle = Bundle::load(dir)?;
        let m = &bundle.manifest;
        let cpu = Arc::new(CpuRenderer::new(
            m.field.clone(),
            m.encoder.latent_dim,
            &bundle.field_model,
            &bundle.field.path,
        )?);
        let renderer = field::open(
            device,
            &cpu,
            &m.field,
            m.encoder.latent_dim,
            &bundle.field.path,
        )?;
        Ok(Engine {
            bundle,
            cpu,
            renderer,
        })
    }

    /// Where the field renders, for reports: "cpu" or "cuda: <device>".
    pub fn field_device(&self) -> String {
        self.renderer.device()
    }

    /// Crop, resize and normalise: the encoder's input (3 × S × S).
    pub fn preprocess(&self, rgb: &RgbImage, bx: &PersonBox) -> Vec<f32> {
        let i = &self.bundle.manifest.input;
        crop::crop_normalise(rgb, bx, i.size, i.mean, i.std)
    }

    /// Encoder: normalised crop → latent z.
    pub fn encode(&self, input: &[f32]) -> Result<Vec<f32>, ModelError> {
        let s = self.bundle.manifest.input.size;
        let g = &self.bundle.encoder;
        let out = g.run(vec![tensor(&[1, 3, s, s], input)?])?;
        output_vec(&out[0], g)
    }

    /// Feature field for yaw `view_deg`, volume-rendered: F and A.
    pub fn render(
        &self,
        z: &[f32],
        view_deg: f64,
    ) -> Result<(Rendered, crate::field::FieldTimes), ModelError> {
        self.renderer.render(z, view_deg)
    }

    /// The feature field rendered from every yaw of `views_deg`, in order (`--views`).
    ///
    /// One view after another, each with its cached per-view part. Stacking all views'
    /// samples into one run of the field was measured slower on the CPU (full bundle,
    /// 4 views, 2 threads: 63.4 ms stacked vs 52.4 ms one by one: ~17 k rows of
    /// 128-wide activations no longer stay in cache); docs/PERFORMANCE.md.
    pub fn render_views(
        &self,
        z: &[f32],
        views_deg: &[f64],
    ) -> Result<(Vec<Rendered>, crate::field::FieldTimes), ModelError> {
        let mut all = Vec::with_capacity(views_deg.len());
        let mut times = crate::field::FieldTimes::default();
        for &v in views_deg {
            let (r, t) = self.render(z, v)?;
            times.field_ms += t.field_ms;
            times.render_ms += t.render_ms;
            all.push(r);
        }
        Ok((all, times))
    }

    /// The CPU field renderer (per-view caches, the unsplit reference path), whichever
    /// device renders the frames.
    pub fn renderer(&self) -> &CpuRenderer {
        &self.cpu
    }

    /// Head: F, A and z → pose (6D per joint), β, camera, from the mean parameters.
    pub fn regress(&self, rendered: &Rendered, z: &[f32]) -> Result<Regressed, ModelError> {
        let m = &self.bundle.manifest;
        let f = &m.field;
        let mean = &self.bundle.mean;
        let g = &self.bundle.head;
        let out = g.run(vec![
            tensor(
                &[1, f.feature_dim, f.height, f.width],
                &rendered.feature_map,
            )?,
            tensor(&[1, 1, f.height, f.width], &rendered.opacity)?,
            tensor(&[1, m.encoder.latent_dim], z)?,
            tensor(&[1, m.head.pose_dim()], &mean.pose6d)?,
            tensor(&[1, m.head.betas], &mean.betas)?,
            tensor(&[1, 3], &mean.cam)?,
        ])?;
        let cam = output_vec(&out[2], g)?;
        Ok(Regressed {
            pose6d: output_vec(&out[0], g)?,
            betas: output_vec(&out[1], g)?,
            cam: [cam[0], cam[1], cam[2]],
        })
    }

    /// The whole network on one image and person box, seen from yaw `view_deg`.
    pub fn infer(
        &self,
        rgb: &RgbImage,
        bx: &PersonBox,
        view_deg: f64,
    ) -> Result<NetworkOutput, ModelError> {
        self.infer_views(rgb, bx, &[view_deg])
    }

    /// The whole network, the field rendered from every yaw of `views_deg` (the first
    /// is the frame's answer; with more than one, `NetworkOutput::views` holds every
    /// view's answer, for the body stage's consensus). The stage times cover all views.
    pub fn infer_views(
        &self,
        rgb: &RgbImage,
        bx: &PersonBox,
        views_deg: &[f64],
    ) -> Result<NetworkOutput, ModelError> {
        let Some(&view_deg) = views_deg.first() else {
            return Err(ModelError::Input("no viewing direction given".into()));
        };
        let t0 = Instant::now();
        let input = self.preprocess(rgb, bx);
        let t1 = Instant::now();
        let z = self.encode(&input)?;
        let t2 = Instant::now();
        let (mut rendered, field_times) = self.render_views(&z, views_deg)?;
        let t3 = Instant::now();
        let mut views = Vec::with_capacity(views_deg.len());
        for (r, &v) in rendered.iter().zip(views_deg) {
            views.push(ViewRegressed {
                view_deg: v,
                regressed: self.regress(r, &z)?,
            });
        }
        if views.is_empty() {
            return Err(ModelError::Input("no rendering came back".into()));
        }
        let regressed = if views.len() > 1 {
            views[0].regressed.clone()
        } else {
            views.swap_remove(0).regressed
        };
        let t4 = Instant::now();
        Ok(NetworkOutput {
            view_deg,
            z,
            rendered: rendered.swap_remove(0),
            regressed,
            views,
            times: StageTimes {
                preprocess: ms(t1 - t0),
                encoder: ms(t2 - t1),
                field: field_times.field_ms,
                render: field_times.render_ms,
                head: ms(t4 - t3),
                total: ms(t4 - t0),
            },
        })
    }
}
