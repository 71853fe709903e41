//! Volume rendering: composite per-sample density and features along each ray.
//!
//!   α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{k<i} (1 − α_k),  w_i = α_i T_i,
//!   F = Σ_i w_i f_i (C × H_f × W_f),  A = Σ_i w_i (H_f × W_f).
//!
//! Kept in f32 like the reference (`volume_render` in tools/imphmr_ref/geometry.py).

/// The rendered 2D feature map and its opacity (ImpHMR's silhouette).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// C × H × W, channel-major.
    pub feature_map: Vec<f32>,
    /// H × W.
    pub opacity: Vec<f32>,
}

/// `sigma` (rays·samples), `feature` (rays·samples × channels), `inside` masks density
/// outside the field's box, `deltas` (samples).
pub fn composite(
    sigma: &[f32],
    feature: &[f32],
    inside: &[f32],
    deltas: &[f32],
    channels: usize,
) -> Rendered {
    let samples = deltas.len();
    let rays = sigma.len() / samples;
    let mut feature_map = vec![0f32; channels * rays];
    let mut opacity = vec![0f32; rays];
    let mut acc = vec![0f32; channels];
    for r in 0..rays {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let mut transmittance = 1f32;
        let mut total = 0f32;
        for (k, &delta) in deltas.iter().enumerate() {
            let ix = r * samples + k;
            let density = sigma[ix] * inside[ix];
            let alpha = 1.0 - (-density * delta).exp();
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
        let r = composite(&[1e4, 1.0], &[2.0, 5.0], &[1.0, 1.0], &[1.0, 1.0], 1);
        assert!((r.opacity[0] - 1.0).abs() < 1e-6);
        assert!((r.feature_map[0] - 2.0).abs() < 1e-5);
    }

    #[test]
    fn matches_hand_computed_weights() {
        let (s1, s2, d) = (0.5f32, 2.0f32, 0.3f32);
        let a1 = 1.0 - (-s1 * d).exp();
        let a2 = 1.0 - (-s2 * d).exp();
        let w2 = a2 * (1.0 - a1);
        let r = composite(&[s1, s2], &[1.0, 3.0, -1.0, 4.0], &[1.0, 1.0], &[d, d], 2);
        assert!((r.opacity[0] - (a1 + w2)).abs() < 1e-6);
        assert!((r.feature_map[0] - (a1 - w2)).abs() < 1e-6);
        assert!((r.feature_map[1] - (a1 * 3.0 + w2 * 4.0)).abs() < 1e-6);
    }

    #[test]
    fn samples_outside_the_box_are_empty() {
        let r = composite(&[5.0, 5.0], &[1.0, 1.0], &[0.0, 0.0], &[1.0, 1.0], 1);
        assert_eq!(r.opacity[0], 0.0);
        assert_eq!(r.feature_map[0], 0.0);
    }
}
