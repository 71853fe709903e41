//! Volume rendering: composite per-sample density and features along each ray.
//!
//!   α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{k<i} (1 − α_k),  w_i = α_i T_i,
//!   F = Σ_i w_i f_i (C × H_f × W_f),  A = Σ_i w_i (H_f × W_f).
//!
//! Kept in f32 like the reference (`volume_render` in tools/imphmr_ref/geometry.py).

/// The rendered 2D feature map and its opacity (ImpHMR's silhouette), with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Rows of rays (H).
    pub height: usize,
    /// Rays per row (W).
    pub width: usize,
    /// C × H × W, channel-major.
    pub feature_map: Vec<f32>,
    /// H × W.
    pub opacity: Vec<f32>,
}

/// `sigma` (rows) and `feature` (rows × channels) of the samples a ray keeps: ray r
/// owns rows `ray_rows[r]..ray_rows[r + 1]`, row i lies at depth `row_depth[i]`, whose
/// interval is `deltas[row_depth[i]]`. Rays without rows are empty. The rays form a
/// `(height, width)` grid, row-major (`ray_rows` has height · width + 1 entries).
pub fn composite(
    sigma: &[f32],
    feature: &[f32],
    ray_rows: &[usize],
    row_depth: &[u32],
    deltas: &[f32],
    channels: usize,
    (height, width): (usize, usize),
) -> Rendered {
    let rays = ray_rows.len() - 1;
    assert_eq!(rays, height * width, "ray_rows does not match the ray grid");
    let mut feature_map = vec![0f32; channels * rays];
    let mut opacity = vec![0f32; rays];
    let mut acc = vec![0f32; channels];
    for r in 0..rays {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut transmittance = 1f32;
        let mut total = 0f32;
        for ix in ray_rows[r]..ray_rows[r + 1] {
            let delta = deltas[row_depth[ix] as usize];
            let alpha = 1.0 - (-sigma[ix] * delta).exp();
            let w = alpha * transmittance;
            transmittance *= 1.0 - alpha;
            if w == 0.0 {
                continue;
            }
            total += w;
            let f = &feature[ix * channels..(ix + 1) * channels];
            for (a, v) in acc.iter_mut().zip(f) {
                *a += w * v;
            }
        }
        opacity[r] = total;
        for (c, a) in acc.iter().enumerate() {
            feature_map[c * rays + r] = *a;
        }
    }
    Rendered {
        height,
        width,
        feature_map,
        opacity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_first_sample_hides_the_rest() {
        // One ray, two samples: an opaque first sample takes all the weight.
        let r = composite(
            &[1e4, 1.0],
            &[2.0, 5.0],
            &[0, 2],
            &[0, 1],
            &[1.0, 1.0],
            1,
            (1, 1),
        );
        assert!((r.opacity[0] - 1.0).abs() < 1e-6);
        assert!((r.feature_map[0] - 2.0).abs() < 1e-5);
    }

    #[test]
    fn matches_hand_computed_weights() {
        let (s1, s2, d) = (0.5f32, 2.0f32, 0.3f32);
        let a1 = 1.0 - (-s1 * d).exp();
        let a2 = 1.0 - (-s2 * d).exp();
        let w2 = a2 * (1.0 - a1);
        let r = composite(
            &[s1, s2],
            &[1.0, 3.0, -1.0, 4.0],
            &[0, 2],
            &[0, 1],
            &[d, d],
            2,
            (1, 1),
        );
        assert!((r.opacity[0] - (a1 + w2)).abs() < 1e-6);
        assert!((r.feature_map[0] - (a1 - w2)).abs() < 1e-6);
        assert!((r.feature_map[1] - (a1 * 3.0 + w2 * 4.0)).abs() < 1e-6);
    }

    #[test]
    fn skipped_samples_are_the_same_as_empty_ones() {
        // Ray 0 keeps depths 1 and 3 of 4; ray 1 keeps none. The same ray with every
        // depth and σ = 0 at the skipped ones must render identically.
        let (deltas, f) = ([0.2f32, 0.3, 0.4, 1e3], [1.0f32, -2.0]);
        let kept = composite(&[0.7, 1.5], &f, &[0, 2, 2], &[1, 3], &deltas, 1, (1, 2));
        let all = composite(
            &[0.0, 0.7, 0.0, 1.5],
            &[9.0, f[0], 9.0, f[1]],
            &[0, 4],
            &[0, 1, 2, 3],
            &deltas,
            1,
            (1, 1),
        );
        assert_eq!(kept.feature_map[0], all.feature_map[0]);
        assert_eq!(kept.opacity[0], all.opacity[0]);
        assert_eq!((kept.feature_map[1], kept.opacity[1]), (0.0, 0.0));
    }
}
