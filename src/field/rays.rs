//! Rays, samples and positional encoding for one viewing direction φ.
//!
//! Same formulas as `tools/imphmr_ref/geometry.py`. Computed in f64 and cast to f32 at
//! the end: the top encoding frequency (2^9·π·p) is a large argument for an f32 sine,
//! and f64 keeps the engine and the reference within an ulp of each other.

use crate::model::FieldSpec;

/// Everything the field graph and the renderer need for one φ; depends on the
/// manifest and φ only, so it is computed once per view and reused for every frame.
///
/// Only samples inside the field's box are kept (outside it σ = 0: such a sample has
/// α = 0 and changes neither the colour nor the transmittance of its ray). Rows are
/// ray-major, nearest first.
#[derive(Debug, Clone)]
pub struct FieldInputs {
    pub view_deg: f64,
    /// γ(p / bound) per kept sample, rows × 6·point_freqs.
    pub points_enc: Vec<f32>,
    /// γ(d) per kept sample, rows × 6·dir_freqs.
    pub dirs_enc: Vec<f32>,
    /// The rows of ray r are `ray_rows[r]..ray_rows[r + 1]`.
    pub ray_rows: Vec<usize>,
    /// Depth index of each row along its ray (into `deltas`).
    pub row_depth: Vec<u32>,
    /// Interval length per depth along a ray (the last one is `last_delta`).
    pub deltas: Vec<f32>,
}

/// Unit ray directions (one per pixel, row-major) and the camera origin for yaw φ.
///
/// World frame: y up, body at the origin facing +z; camera at R_y(φ)·(0, 0, radius),
/// looking at the origin, x right and y up in the image (OpenGL convention).
pub fn ray_directions(spec: &FieldSpec, view_deg: f64) -> ([f64; 3], Vec<[f64; 3]>) {
    let tan_half = (spec.fov_deg.to_radians() / 2.0).tan();
    let phi = view_deg.to_radians();
    let (c, s) = (phi.cos(), phi.sin());
    // R_y(φ) applied to (x, y, z): (c·x + s·z, y, −s·x + c·z)
    let rot = |v: [f64; 3]| [c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2]];
    let origin = rot([0.0, 0.0, spec.radius]);
    let mut dirs = Vec::with_capacity(spec.rays());
    for i in 0..spec.height {
        for j in 0..spec.width {
            let x = ((j as f64 + 0.5) / spec.width as f64 * 2.0 - 1.0) * tan_half;
            let y = (1.0 - (i as f64 + 0.5) / spec.height as f64 * 2.0) * tan_half;
            let norm = (x * x + y * y + 1.0).sqrt();
            dirs.push(rot([x / norm, y / norm, -1.0 / norm]));
        }
    }
    (origin, dirs)
}

/// Sample depths: `samples` evenly spaced distances in [near, far].
pub fn depths(spec: &FieldSpec) -> Vec<f64> {
    let n = spec.samples;
    if n == 1 {
        return vec![spec.near];
    }
    (0..n)
        .map(|k| spec.near + (spec.far - spec.near) * k as f64 / (n - 1) as f64)
        .collect()
}

/// γ(x) = [sin(2^0 π x), cos(2^0 π x), …, sin(2^(L−1) π x), cos(2^(L−1) π x)], each block
/// three wide, appended to `out`.
pub fn encode(x: [f64; 3], freqs: usize, out: &mut Vec<f32>) {
    for k in 0..freqs {
        let scale = (1u64 << k) as f64 * std::f64::consts::PI;
        for v in x {
            out.push((scale * v).sin() as f32);
        }
        for v in x {
            out.push((scale * v).cos() as f32);
        }
    }
}

impl FieldInputs {
    pub fn new(spec: &FieldSpec, view_deg: f64) -> FieldInputs {
        let (origin, dirs) = ray_directions(spec, view_deg);
        let depths = depths(spec);
        let mut points_enc = vec![];
        let mut dirs_enc = vec![];
        let mut ray_rows = Vec::with_capacity(dirs.len() + 1);
        let mut row_depth = vec![];
        let mut dir_block = Vec::with_capacity(spec.dir_enc_dim());
        ray_rows.push(0);
        for d in &dirs {
            dir_block.clear();
            encode(*d, spec.dir_freqs, &mut dir_block);
            for (k, &t) in depths.iter().enumerate() {
                let p = [
                    origin[0] + d[0] * t,
                    origin[1] + d[1] * t,
                    origin[2] + d[2] * t,
                ];
                if !p.iter().all(|c| c.abs() <= spec.bound) {
                    continue;
                }
                let pn = [p[0] / spec.bound, p[1] / spec.bound, p[2] / spec.bound];
                encode(pn, spec.point_freqs, &mut points_enc);
                dirs_enc.extend_from_slice(&dir_block);
                row_depth.push(k as u32);
            }
            ray_rows.push(row_depth.len());
        }
        let mut deltas: Vec<f32> = depths.windows(2).map(|w| (w[1] - w[0]) as f32).collect();
        deltas.push(spec.last_delta as f32);
        FieldInputs {
            view_deg,
            points_enc,
            dirs_enc,
            ray_rows,
            row_depth,
            deltas,
        }
    }

    /// Samples kept (inside the box).
    pub fn rows(&self) -> usize {
        self.row_depth.len()
    }
}
