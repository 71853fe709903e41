//! Accuracy metrics, SPIN's protocol, in f64: MPJPE after root-joint alignment,
//! PA-MPJPE after a similarity Procrustes alignment, PVE after root-joint alignment,
//! and Spearman's rank correlation (ties averaged). Distances in the points' unit;
//! `eval` passes metres and reports millimetres.

use nalgebra::{Matrix3, Vector3};

pub type Point = [f64; 3];

fn v(p: &Point) -> Vector3<f64> {
    Vector3::new(p[0], p[1], p[2])
}

/// Mean distance between `pred` and `truth` after subtracting each set's own `root`
/// point from it (MPJPE with the root joints; PVE with the vertices and the root
/// joints). NaN for empty sets.
pub fn root_aligned_error(
    pred: &[Point],
    pred_root: &Point,
    truth: &[Point],
    truth_root: &Point,
) -> f64 {
    let (pr, tr) = (v(pred_root), v(truth_root));
    let sum: f64 = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| ((v(p) - pr) - (v(t) - tr)).norm())
        .sum();
    sum / pred.len().min(truth.len()) as f64
}

/// MPJPE: mean joint error after aligning root joints (joint 0).
pub fn mpjpe(pred: &[Point], truth: &[Point]) -> f64 {
    root_aligned_error(pred, &pred[0], truth, &truth[0])
}

/// PVE: mean vertex error after aligning root joints.
pub fn pve(
    pred_vertices: &[Point],
    pred_root: &Point,
    true_vertices: &[Point],
    true_root: &Point,
) -> f64 {
    root_aligned_error(pred_vertices, pred_root, true_vertices, true_root)
}

/// A similarity transform y = s·R·x + t.
#[derive(Debug, Clone, Copy)]
pub struct Similarity {
    pub scale: f64,
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
}

impl Similarity {
    pub fn apply(&self, p: &Point) -> Point {
        let y = self.rotation * v(p) * self.scale + self.translation;
        [y.x, y.y, y.z]
    }
}

/// The similarity transform taking `x` closest (least squares) onto `y`: Umeyama's
/// solution as SPIN's `compute_similarity_transform` computes it. With centred sets
/// X, Y and K = X·Yᵀ = U·S·Vᵀ: R = V·Z·Uᵀ with Z = diag(1, 1, sign det(V·Uᵀ)) (a
/// rotation, never a reflection), s = tr(R·K) / ‖X‖², t = ȳ − s·R·x̄.
pub fn procrustes(x: &[Point], y: &[Point]) -> Similarity {
    let n = x.len().min(y.len()).max(1) as f64;
    let mx = x.iter().map(v).sum::<Vector3<f64>>() / n;
    let my = y.iter().map(v).sum::<Vector3<f64>>() / n;
    let mut k = Matrix3::zeros();
    let mut var = 0.0;
    for (a, b) in x.iter().zip(y) {
        let (a, b) = (v(a) - mx, v(b) - my);
        k += a * b.transpose();
        var += a.norm_squared();
    }
    let svd = k.svd(true, true);
    let (u, v_t) = match (svd.u, svd.v_t) {
        (Some(u), Some(v_t)) => (u, v_t),
        _ => (Matrix3::identity(), Matrix3::identity()),
    };
    let vm = v_t.transpose();
    let mut z = Matrix3::identity();
    z[(2, 2)] = (vm * u.transpose()).determinant().signum();
    let rotation = vm * z * u.transpose();
    let scale = if var > 0.0 {
        (rotation * k).trace() / var
    } else {
        1.0
    };
    let translation = my - rotation * mx * scale;
    Similarity {
        scale,
        rotation,
        translation,
    }
}

/// PA-MPJPE: mean joint error after the best similarity transform of `pred` onto
/// `truth`.
pub fn pa_mpjpe(pred: &[Point], truth: &[Point]) -> f64 {
    let s = procrustes(pred, truth);
    let sum: f64 = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| (v(&s.apply(p)) - v(t)).norm())
        .sum();
    sum / pred.len().min(truth.len()) as f64
}

/// Ranks from 1, ties given the mean of the ranks they span (NaN sorts last).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Pearson's correlation; None with fewer than two pairs or no spread.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (mx, my) = (
        x.iter().sum::<f64>() / n as f64,
        y.iter().sum::<f64>() / n as f64,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's rank correlation: Pearson's on the ranks, ties averaged (scipy's
/// `spearmanr`). None with fewer than two pairs or when either side is constant, or
/// when a value is not finite.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.iter().chain(y).any(|a| !a.is_finite()) {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Rotation3, Unit};

    /// A small deterministic generator (no rand dependency).
    struct Lcg(u64);
    impl Lcg {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
        fn points(&mut self, n: usize) -> Vec<Point> {
            (0..n)
                .map(|_| [self.uniform(), self.uniform(), self.uniform()])
                .collect()
        }
        fn rotation(&mut self) -> Matrix3<f64> {
            let axis =
                Unit::new_normalize(Vector3::new(self.uniform(), self.uniform(), self.uniform()));
            *Rotation3::from_axis_angle(&axis, 3.0 * self.uniform()).matrix()
        }
    }

    fn transform(pts: &[Point], s: f64, r: &Matrix3<f64>, t: [f64; 3]) -> Vec<Point> {
        let sim = Similarity {
            scale: s,
            rotation: *r,
            translation: Vector3::from(t),
        };
        pts.iter().map(|p| sim.apply(p)).collect()
    }

    #[test]
    fn an_identical_prediction_scores_zero() {
        let p = Lcg(1).points(24);
        assert_eq!(mpjpe(&p, &p), 0.0);
        assert!(pa_mpjpe(&p, &p) < 1e-12);
        assert_eq!(pve(&p, &p[0], &p, &p[0]), 0.0);
    }

    #[test]
    fn a_rotated_scaled_moved_prediction_is_zero_after_procrustes_only() {
        let mut g = Lcg(2);
        let truth = g.points(24);
        let r = g.rotation();
        let pred = transform(&truth, 1.3, &r, [0.2, -0.5, 3.0]);
        assert!(pa_mpjpe(&pred, &truth) < 1e-12);
        assert!(mpjpe(&pred, &truth) > 0.1);
        // The recovered transform is the inverse.
        let s = procrustes(&pred, &truth);
        assert!((s.scale - 1.0 / 1.3).abs() < 1e-12);
        assert!((s.rotation - r.transpose()).norm() < 1e-12);
        // A pure translation: both alignments remove it.
        let moved = transform(&truth, 1.0, &Matrix3::identity(), [1.0, 2.0, 3.0]);
        assert!(mpjpe(&moved, &truth) < 1e-12 && pa_mpjpe(&moved, &truth) < 1e-12);
    }

    #[test]
    fn mpjpe_by_hand() {
        // Root at the origin in both; joint 1 off by (0, 0.3, 0.4) = 0.5; joint 2 exact.
        let truth = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let pred = [[5.0, 5.0, 5.0], [6.0, 5.3, 5.4], [5.0, 6.0, 5.0]];
        assert!((mpjpe(&pred, &truth) - 0.5 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn procrustes_never_reflects_and_is_the_least_squares_optimum() {
        let mut g = Lcg(3);
        for case in 0..2 {
            let truth = g.points(24);
            // A mirrored, noisy prediction: the best rotation is not the mirror.
            let mut pred: Vec<Point> = truth.iter().map(|p| [-p[0], p[1], p[2]]).collect();
            if case % 2 == 1 {
                pred = pred
                    .iter()
                    .map(|p| [p[0] + 0.1 * g.uniform(), p[1] + 0.1 * g.uniform(), p[2]])
                    .collect();
            }
            let best = procrustes(&pred, &truth);
            assert!((best.rotation.determinant() - 1.0).abs() < 1e-12);
            let sq = |s: &Similarity| -> f64 {
                pred.iter()
                    .zip(&truth)
                    .map(|(p, t)| (v(&s.apply(p)) - v(t)).norm_squared())
                    .sum()
            };
            let opt = sq(&best);
            // Brute force: random restarts, then hill-climbing over rotation, scale and
            // translation; nothing may beat the closed form.
            let mut found = f64::INFINITY;
            for _ in 0..6 {
                let mut cur = Similarity {
                    scale: 1.0,
                    rotation: g.rotation(),
                    translation: Vector3::zeros(),
                };
                let mut step = 0.5;
                let mut err = sq(&cur);
                while step > 1e-7 {
                    let mut improved = false;
                    for _ in 0..24 {
                        let axis = Unit::new_normalize(Vector3::new(
                            g.uniform(),
                            g.uniform(),
                            g.uniform(),
                        ));
                        let cand = Similarity {
                            scale: cur.scale * (1.0 + step * g.uniform()),
                            rotation: Rotation3::from_axis_angle(&axis, step * g.uniform())
                                .matrix()
                                * cur.rotation,
                            translation: cur.translation
                                + Vector3::new(g.uniform(), g.uniform(), g.uniform()) * step,
                        };
                        let e = sq(&cand);
                        if e < err {
                            (cur, err, improved) = (cand, e, true);
                        }
                    }
                    if !improved {
                        step /= 2.0;
                    }
                }
                found = found.min(err);
                assert!(err >= opt - 1e-9, "case {case}: search {err} beat {opt}");
            }
            assert!(
                (found - opt).abs() < 1e-6 * opt.max(1e-3),
                "case {case}: {found} vs {opt}"
            );
        }
    }

    #[test]
    fn spearman_on_known_rankings_with_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        assert_eq!(ranks(&[1.0, 1.0, 1.0]), vec![2.0, 2.0, 2.0]);
        let up = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&up, &[2.0, 4.0, 8.0, 16.0, 32.0]).unwrap() - 1.0).abs() < 1e-15);
        assert!((spearman(&up, &[5.0, 4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-15);
        // Ties, by hand: ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): r = 4.5 / √(4.5·5)
        // (scipy.stats.spearmanr gives 0.9486832980505138).
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((r - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-15, "{r}");
        assert!((r - 0.948_683_298_050_513_8).abs() < 1e-15);
        // Undefined: one pair, a constant side, a NaN.
        assert_eq!(spearman(&[1.0], &[2.0]), None);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]), None);
    }
}
