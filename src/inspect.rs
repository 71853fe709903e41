//! `imphmr inspect`: what a bundle holds (manifest, each graph's inputs and outputs,
//! parameters, MACs) and what the field costs per frame once split. The report is a
//! value; the command line prints it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::engine::{Engine, FieldDevice};
use crate::model::{GraphInfo, Manifest, ModelError};

/// A bundle described.
pub struct Inspection {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Per graph: its stage, file name and what it holds.
    pub graphs: Vec<(&'static str, String, GraphInfo)>,
    /// Field samples inside the box from view 0, run per frame.
    pub view_rows: usize,
    /// Multiply-accumulates per frame (view 0) and once per view.
    pub frame_macs: u64,
    pub view_macs: u64,
}

/// Load the bundle in `dir` (field on the CPU) and describe it.
pub fn inspect(dir: &Path) -> Result<Inspection, ModelError> {
    let engine = Engine::load_on(dir, FieldDevice::Cpu)?;
    let b = &engine.bundle;
    let graphs = [
        ("encoder", &b.encoder),
        ("field", &b.field),
        ("head", &b.head),
    ]
    .into_iter()
    .map(|(stage, g)| {
        let file = g
            .path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        (stage, file, g.info.clone())
    })
    .collect();
    // What the renderer actually runs per frame (field::split).
    let view = engine.renderer().view(0.0)?;
    Ok(Inspection {
        dir: dir.to_path_buf(),
        manifest: b.manifest.clone(),
        graphs,
        view_rows: view.inputs.rows(),
        frame_macs: view.frame_macs,
        view_macs: engine.renderer().view_macs(&view),
    })
}

impl fmt::Display for Inspection {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        let (i, e, f, h) = (&m.input, &m.encoder, &m.field, &m.head);
        writeln!(
            out,
            "bundle    {} ({}, {}, format {})",
            self.dir.display(),
            m.name,
            m.precision,
            m.format_version
        )?;
        writeln!(out, "weights   {}", m.weights)?;
        writeln!(
        out,
        "memory    about {} MiB of working memory per frame (checked against {} MiB before loading)",
        m.memory_estimate().div_ceil(1 << 20),
        crate::model::MAX_MEMORY_BYTES >> 20
    )?;
        writeln!(
            out,
            "input     {0}x{0} RGB crop, mean {1:?}, std {2:?}",
            i.size, i.mean, i.std
        )?;
        writeln!(
            out,
            "encoder   {} blocks {:?} width {} -> z ({})",
            e.arch, e.blocks, e.width, e.latent_dim
        )?;
        if e.keypoints > 0 {
            writeln!(
                out,
                "          keypoint branch: {} joints, their 2D positions are z's last {}",
                e.keypoints,
                2 * e.keypoints
            )?;
        }
        writeln!(
            out,
        "field     {}x{} rays x {} samples = {}; depth {}..{}, camera radius {}, fov {} deg, box +-{}",
        f.height, f.width, f.samples, f.num_samples(), f.near, f.far, f.radius, f.fov_deg, f.bound
    )?;
        writeln!(
            out,
        "          encoding {} / {} frequencies (points / directions); MLP {} layers x {}, skip at {}; C = {}",
        f.point_freqs, f.dir_freqs, f.layers, f.hidden, f.skip_layer, f.feature_dim
    )?;
        writeln!(
            out,
        "head      conv {} ch, regressor {} hidden, {} iterations from {}, {} rotations, {} joints, {} betas",
        h.conv_channels, h.hidden, h.iterations, h.mean_params, h.rotation, h.joints, h.betas
    )?;
        if h.facing_gate > 0.0 {
            writeln!(
            out,
            "          mirror gate k = {}: left/right follow the predicted root (facing the camera or not)",
            h.facing_gate
        )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:<8} {:<14} {:>12} {:>14}  tensors",
            "graph", "file", "params", "MMAC/frame"
        )?;
        let mut total = (0usize, 0u64);
        for (stage, file, info) in &self.graphs {
            writeln!(
                out,
                "{:<8} {:<14} {:>12} {:>14.1}",
                stage,
                file,
                info.params,
                info.macs as f64 / 1e6
            )?;
            for t in &info.inputs {
                writeln!(out, "{:<52}in  {} {:?}", "", t.name, t.shape)?;
            }
            for t in &info.outputs {
                writeln!(out, "{:<52}out {} {:?}", "", t.name, t.shape)?;
            }
            total.0 += info.params;
            total.1 += info.macs;
        }
        writeln!(
            out,
            "{:<8} {:<14} {:>12} {:>14.1}",
            "total",
            "",
            total.0,
            total.1 as f64 / 1e6
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "field per frame (view 0): {} of {} samples inside the box ({:.0} %), {:.1} MMAC; \
         {:.1} MMAC once per view for the point and direction parts",
            self.view_rows,
            f.num_samples(),
            100.0 * self.view_rows as f64 / f.num_samples().max(1) as f64,
            self.frame_macs as f64 / 1e6,
            self.view_macs as f64 / 1e6
        )
    }
}
