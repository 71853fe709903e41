//! The whole network for one frame: crop → encoder → field + rendering → head → rotations.
//! Each stage is also callable alone (the parity tests feed each one the reference's
//! input, so a mismatch points at one stage).

use std::path::Path;
use std::time::Instant;

use image::RgbImage;
use nalgebra::Matrix3;

use crate::body::consistency::{self, Ambiguity, ViewEstimate};
use crate::body::rotation;
use crate::crop::{self, PersonBox};
use crate::field::{ms, CpuRenderer, Rendered};
use crate::model::{tensor, Bundle, ModelError};

/// Milliseconds per stage of one inference.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StageTimes {
    pub preprocess: f64,
    pub encoder: f64,
    pub field: f64,
    pub render: f64,
    pub head: f64,
    pub total: f64,
}

impl StageTimes {
    /// Each stage with its name, and the whole inference as "inference", for stats.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("preprocess", self.preprocess),
            ("encoder", self.encoder),
            ("field", self.field),
            ("render", self.render),
            ("head", self.head),
            ("inference", self.total),
        ]
    }
}

/// The regressor's raw output.
#[derive(Debug, Clone)]
pub struct Regressed {
    pub pose6d: Vec<f32>,
    pub betas: Vec<f32>,
    /// Weak-perspective camera (s, tx, ty) of the crop.
    pub cam: [f32; 3],
}

/// SMPL parameters and every intermediate worth keeping.
#[derive(Debug, Clone)]
pub struct Inference {
    pub view_deg: f64,
    pub z: Vec<f32>,
    pub rendered: Rendered,
    pub regressed: Regressed,
    /// θ as one rotation matrix per joint.
    pub rotmats: Vec<Matrix3<f32>>,
    /// θ as axis-angle per joint, angle in [0, π].
    pub axis_angle: Vec<[f32; 3]>,
    /// With more than one view (`--views`): every view's answer and their spread.
    pub views: Option<MultiView>,
    pub times: StageTimes,
}

/// The same frame seen from several yaws (`Engine::infer_views`).
#[derive(Debug, Clone)]
pub struct MultiView {
    /// One per view, the frame's own view first.
    pub estimates: Vec<ViewEstimate>,
    /// Per view, its mean geodesic distance to the consensus over joints, radians.
    pub deviation_rad: Vec<f32>,
    pub ambiguity: Ambiguity,
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

pub struct Engine {
    pub bundle: Bundle,
    renderer: CpuRenderer,
    #[cfg(feature = "cuda")]
    cuda: Option<crate::field::cuda::CudaRenderer>,
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
        let renderer = CpuRenderer::new(
            m.field.clone(),
            m.encoder.latent_dim,
            &bundle.field_model,
            &bundle.field.path,
        )?;
        let unavailable = |msg: String| ModelError::FieldDevice { msg };
        #[cfg(feature = "cuda")]
        let cuda = match device {
            FieldDevice::Cpu => None,
            FieldDevice::Auto | FieldDevice::Cuda => {
                use crate::field::cuda::CudaRenderer;
                match CudaRenderer::new(&m.field, m.encoder.latent_dim, &bundle.field.path) {
                    Ok(r) => {
                        tracing::info!("field renders on CUDA: {}", r.device);
                        Some(r)
                    }
                    Err(why) if device == FieldDevice::Auto => {
                        tracing::warn!("field renders on the CPU: {why}");
                        None
                    }
                    Err(why) => return Err(unavailable(why)),
                }
            }
        };
        #[cfg(not(feature = "cuda"))]
        if device == FieldDevice::Cuda {
            return Err(unavailable(
                "this build has no CUDA support (cargo feature cuda)".into(),
            ));
        }
        Ok(Engine {
            bundle,
            renderer,
            #[cfg(feature = "cuda")]
            cuda,
        })
    }

    /// Where the field renders, for reports: "cpu" or "cuda: <device>".
    pub fn field_device(&self) -> String {
        #[cfg(feature = "cuda")]
        if let Some(c) = &self.cuda {
            return format!("cuda: {}", c.device);
        }
        "cpu".into()
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
        #[cfg(feature = "cuda")]
        if let Some(c) = &self.cuda {
            return c.render(z, view_deg);
        }
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
        &self.renderer
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
    ) -> Result<Inference, ModelError> {
        self.infer_views(rgb, bx, &[view_deg])
    }

    /// The whole network, the field rendered from every yaw of `views_deg` (the first
    /// is the frame's answer; with more than one, `Inference::views` holds every view's
    /// answer and their spread). The stage times cover all views.
    pub fn infer_views(
        &self,
        rgb: &RgbImage,
        bx: &PersonBox,
        views_deg: &[f64],
    ) -> Result<Inference, ModelError> {
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
        let mut estimates = Vec::with_capacity(views_deg.len());
        let mut main = None;
        for (i, (r, &v)) in rendered.iter().zip(views_deg).enumerate() {
            let regressed = self.regress(r, &z)?;
            let (rotmats, axis_angle) = joint_rotations(&regressed.pose6d);
            if views_deg.len() > 1 {
                estimates.push(ViewEstimate {
                    view_deg: v,
                    rotmats: rotmats.clone(),
                    betas: regressed.betas.clone(),
                    cam: regressed.cam,
                });
            }
            if i == 0 {
                main = Some((regressed, rotmats, axis_angle));
            }
        }
        let Some((regressed, rotmats, axis_angle)) = main else {
            return Err(ModelError::Input("no rendering came back".into()));
        };
        let views = (estimates.len() > 1).then(|| {
            let (ambiguity, deviation_rad) = consistency::spread(&estimates);
            MultiView {
                estimates,
                deviation_rad,
                ambiguity,
            }
        });
        let t4 = Instant::now();
        Ok(Inference {
            view_deg,
            z,
            rendered: rendered.swap_remove(0),
            regressed,
            rotmats,
            axis_angle,
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

/// 6D per joint → rotation matrices and axis-angle.
pub fn joint_rotations(pose6d: &[f32]) -> (Vec<Matrix3<f32>>, Vec<[f32; 3]>) {
    let rotmats: Vec<Matrix3<f32>> = pose6d
        .chunks_exact(6)
        .map(|c| rotation::rot6d_to_rotmat(&[c[0], c[1], c[2], c[3], c[4], c[5]]))
        .collect();
    let aa = rotmats.iter().map(rotation::rotmat_to_axis_angle).collect();
    (rotmats, aa)
}
