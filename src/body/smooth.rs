//! Temporal smoothing of SMPL parameters with the One-Euro filter (Casiraghi, Roussel and
//! Vogel, CHI 2012).
//!
//! Why One-Euro: per-frame regression jitters even when the person stands still, and a fixed
//! low-pass filter trades that jitter for lag everywhere. One-Euro is an exponential smoother
//! whose cutoff rises with the signal's (filtered) speed: `cutoff = min_cutoff + beta·|ẋ|`.
//! At rest the cutoff is low and the output is steady; when the body moves fast the cutoff
//! rises and the output keeps up. It costs a few flops per value, keeps one sample of state
//! and has two knobs that mean something (see [`OneEuroParams`]).
//!
//! Why on the rotation manifold: the joint rotations are points of SO(3), not vectors.
//! Axis-angle components jump where the angle crosses π (179° about `a` is -179° about it,
//! i.e. 179° about `-a`), so a component-wise average there lands near the identity, half a
//! turn from both inputs; away from π, averaging components still warps the rotation. Each
//! step here instead moves the previous estimate along the geodesic towards the new
//! measurement, `R̂ = R̂_prev · exp(α · log(R̂_prevᵀ R))`, and the speed is that same tangent
//! vector over dt (rad/s). Only the relative rotation is ever logged, so where a rotation
//! sits (π included) does not matter.
//!
//! Shape parameters β are smoothed per component, the translation as one 3-vector (one
//! cutoff from its speed in m/s); all state is f64.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};

/// A gap between frames longer than this (seconds) restarts the filter: the old estimate is
/// stale and would drag the new pose towards where the person was.
pub const MAX_GAP_S: f64 = 1.0;

/// The One-Euro filter's knobs.
///
/// - `min_cutoff` (Hz): the cutoff at rest. Lower = less jitter when still, more lag.
/// - `beta` (per unit of the value: s/rad for rotations, s/m for translation): how fast
///   the cutoff rises with speed. Higher = less lag when moving fast (and a bit more
///   jitter while moving).
/// - `d_cutoff` (Hz): the cutoff of the speed estimate itself; 1 Hz as in the paper.
///
/// Tune it as the paper says: with `beta = 0`, lower `min_cutoff` until the still pose is
/// steady enough; then raise `beta` until fast movements no longer lag.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuroParams {
    pub min_cutoff: f64,
    pub beta: f64,
    pub d_cutoff: f64,
}

impl OneEuroParams {
    /// `min_cutoff` finite and > 0, `beta` finite and >= 0; `d_cutoff` is 1 Hz.
    pub fn new(min_cutoff: f64, beta: f64) -> Result<OneEuroParams, String> {
        if !(min_cutoff.is_finite() && min_cutoff > 0.0) {
            return Err(format!(
                "min_cutoff must be finite and > 0 Hz, got {min_cutoff}"
            ));
        }
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(format!("beta must be finite and >= 0, got {beta}"));
        }
        Ok(OneEuroParams {
            min_cutoff,
            beta,
            d_cutoff: 1.0,
        })
    }
}

impl fmt::Display for OneEuroParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.min_cutoff, self.beta)
    }
}

/// Parses "MIN_CUTOFF,BETA", e.g. "1.0,0.05" (for `--smooth MIN_CUTOFF,BETA`).
impl FromStr for OneEuroParams {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| {
            format!(
                "bad smoothing parameters {s:?} ({why}): expected MIN_CUTOFF,BETA \
                 such as 1.0,0.05 (min_cutoff in Hz > 0, beta >= 0)"
            )
        };
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [mc, beta] = parts[..] else {
            return Err(bad(format!("{} fields, not 2", parts.len())));
        };
        let num = |p: &str| {
            p.parse::<f64>()
                .map_err(|_| bad(format!("{p:?} is not a number")))
        };
        OneEuroParams::new(num(mc)?, num(beta)?).map_err(bad)
    }
}

/// Smoothing factor of one exponential step: `1 / (1 + tau/dt)`, `tau = 1/(2π f_c)`.
fn alpha(cutoff_hz: f64, dt: f64) -> f64 {
    let tau = 1.0 / (2.0 * PI * cutoff_hz);
    1.0 / (1.0 + tau / dt)
}

/// One-Euro on an N-vector with one cutoff, from the norm of its filtered derivative.
#[derive(Clone, Debug)]
struct OneEuro<const N: usize> {
    x: [f64; N],
    dx: [f64; N],
}

impl<const N: usize> OneEuro<N> {
    fn new(x: [f64; N]) -> Self {
        OneEuro { x, dx: [0.0; N] }
    }

    fn filter(&mut self, x: [f64; N], dt: f64, p: &OneEuroParams) -> [f64; N] {
        // The paper's speed: new sample minus the previous *estimate*.
        let ad = alpha(p.d_cutoff, dt);
        for ((d, xi), prev) in self.dx.iter_mut().zip(x).zip(self.x) {
            *d += ad * ((xi - prev) / dt - *d);
        }
        let speed = self.dx.iter().map(|d| d * d).sum::<f64>().sqrt();
        let a = alpha(p.min_cutoff + p.beta * speed, dt);
        for (est, xi) in self.x.iter_mut().zip(x) {
            *est += a * (xi - *est);
        }
        self.x
    }
}

/// log of a unit quaternion as a rotation vector (axis · angle, angle in [0, π]): the
/// shortest arc (q and -q are the same rotation), atan2 for accuracy at 0 and π.
fn log(q: &UnitQuaternion<f64>) -> Vector3<f64> {
    let (w, v) = if q.w < 0.0 {
        (-q.w, -q.imag())
    } else {
        (q.w, q.imag())
    };
    let s = v.norm();
    if s < 1e-12 {
        v * 2.0 // first order: exact to rounding at this size
    } else {
        v * (2.0 * s.atan2(w) / s)
    }
}

/// One-Euro on SO(3): the estimate moves along the geodesic; the speed is a tangent vector.
#[derive(Clone, Debug)]
struct So3OneEuro {
    q: UnitQuaternion<f64>,
    /// Angular velocity (rad/s) in the estimate's body frame; only its norm is used, so the
    /// frame drifting with the estimate between frames does not matter.
    w: Vector3<f64>,
}

impl So3OneEuro {
    fn new(q: UnitQuaternion<f64>) -> Self {
        So3OneEuro {
            q,
            w: Vector3::zeros(),
        }
    }

    fn filter(
        &mut self,
        q: &UnitQuaternion<f64>,
        dt: f64,
        p: &OneEuroParams,
    ) -> UnitQuaternion<f64> {
        let step = log(&(self.q.inverse() * q));
        self.w += (step / dt - self.w) * alpha(p.d_cutoff, dt);
        let a = alpha(p.min_cutoff + p.beta * self.w.norm(), dt);
        self.q *= UnitQuaternion::from_scaled_axis(step * a);
        self.q.renormalize(); // no drift off the unit sphere over long runs
        self.q
    }
}

fn to_quat(m: &Matrix3<f32>) -> UnitQuaternion<f64> {
    // Direct (largest-pivot) conversion, stable at π and cheaper than the iterative
    // `UnitQuaternion::from_matrix`; the inputs are orthonormal to f32 precision already.
    let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m.cast()));
    UnitQuaternion::new_normalize(q.into_inner())
}

#[derive(Clone, Debug)]
struct State {
    t: f64,
    joints: Vec<So3OneEuro>,
    betas: Vec<OneEuro<1>>,
    translation: OneEuro<3>,
}

/// Smooths one person's SMPL parameters over time. See the module doc.
#[derive(Clone, Debug)]
pub struct BodySmoother {
    params: OneEuroParams,
    state: Option<State>,
}

impl BodySmoother {
    pub fn new(params: OneEuroParams) -> BodySmoother {
        BodySmoother {
            params,
            state: None,
        }
    }

    pub fn params(&self) -> OneEuroParams {
        self.params
    }

    /// Forget the past: the next call passes its values through (person lost, a failed
    /// frame, a restarted run).
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Filters one frame in place; `t_seconds` is the frame's capture time. The first frame,
    /// and the first after `reset`, a gap over [`MAX_GAP_S`], a time that does not advance,
    /// a change in the number of joints or betas, or a non-finite input, pass through as
    /// they are and restart the filter from them.
    pub fn smooth(
        &mut self,
        t_seconds: f64,
        rotmats: &mut [Matrix3<f32>],
        betas: &mut [f32],
        translation: &mut [f64; 3],
    ) {
        let p = self.params;
        let dt = match &self.state {
            Some(s) if s.joints.len() == rotmats.len() && s.betas.len() == betas.len() => {
                t_seconds - s.t
            }
            _ => f64::NAN,
        };
        // A NaN must not poison the state for good: pass that frame through and restart.
        let finite = rotmats.iter().all(|m| m.iter().all(|v| v.is_finite()))
            && betas.iter().all(|b| b.is_finite())
            && translation.iter().all(|v| v.is_finite());
        let state = match &mut self.state {
            Some(s) if finite && dt > 0.0 && dt <= MAX_GAP_S => s,
            _ => {
                self.state = finite.then(|| State {
                    t: t_seconds,
                    joints: rotmats
                        .iter()
                        .map(|m| So3OneEuro::new(to_quat(m)))
                        .collect(),
                    betas: betas.iter().map(|&b| OneEuro::new([b as f64])).collect(),
                    translation: OneEuro::new(*translation),
                });
                return;
            }
        };
        state.t = t_seconds;
        for (m, f) in rotmats.iter_mut().zip(&mut state.joints) {
            let q = f.filter(&to_quat(m), dt, &p);
            *m = q.to_rotation_matrix().into_inner().cast();
        }
        for (b, f) in betas.iter_mut().zip(&mut state.betas) {
            *b = f.filter([*b as f64], dt, &p)[0] as f32;
        }
        *translation = state.translation.filter(*translation, dt, &p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::rotation::rotmat_to_axis_angle;

    const DT: f64 = 1.0 / 30.0;
    /// The knobs the synthetic tests use, for 30 fps with 2° of noise. At rest α ≈ 0.2
    /// (noise down ~2.5×); β = 2 s/rad lifts the cutoff by 2 Hz per rad/s of speed, which
    /// is what it takes for the 54°/s swing below to beat the raw error despite the lag
    /// (β = 1 lags too much there: 2.3° vs 2.0° raw; β = 4 halves the noise only 2.3×).
    const P: OneEuroParams = OneEuroParams {
        min_cutoff: 1.0,
        beta: 2.0,
        d_cutoff: 1.0,
    };

    /// splitmix64 with Box–Muller: seeded, so every run sees the same noise.
    struct Rng(u64);
    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn gauss(&mut self) -> f64 {
            let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
            (-2.0 * u1.ln()).sqrt() * (2.0 * PI * self.uniform()).cos()
        }
        /// A rotation vector whose angle has RMS `rms_rad` (per-axis std rms/√3).
        fn tangent(&mut self, rms_rad: f64) -> Vector3<f64> {
            let s = rms_rad / 3f64.sqrt();
            Vector3::new(self.gauss(), self.gauss(), self.gauss()) * s
        }
    }

    fn exp(v: Vector3<f64>) -> UnitQuaternion<f64> {
        UnitQuaternion::from_scaled_axis(v)
    }
    fn mat(q: &UnitQuaternion<f64>) -> Matrix3<f32> {
        q.to_rotation_matrix().into_inner().cast()
    }
    /// Geodesic distance in degrees.
    fn deg(a: &UnitQuaternion<f64>, b: &UnitQuaternion<f64>) -> f64 {
        log(&(a.inverse() * b)).norm().to_degrees()
    }
    fn rms(v: impl IntoIterator<Item = f64>) -> f64 {
        let (s, n) = v.into_iter().fold((0.0, 0), |(s, n), x| (s + x * x, n + 1));
        (s / n as f64).sqrt()
    }
    fn axis(x: f64, y: f64, z: f64) -> Vector3<f64> {
        Vector3::new(x, y, z).normalize()
    }

    /// Runs rotation-only frames (at 30 fps) through a smoother; returns its outputs.
    fn run(p: OneEuroParams, frames: &[Vec<UnitQuaternion<f64>>]) -> Vec<Vec<UnitQuaternion<f64>>> {
        let mut sm = BodySmoother::new(p);
        let mut tr = [0.0; 3];
        frames
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let mut m: Vec<Matrix3<f32>> = f.iter().map(mat).collect();
                sm.smooth(k as f64 * DT, &mut m, &mut [], &mut tr);
                m.iter().map(to_quat).collect()
            })
            .collect()
    }

    /// Steady-state lag behind a constant speed v: each step covers v·dt = α(L + v·dt), so
    /// L = v·τ(f_c), τ = 1/(2π f_c); the speed estimate settles at (L + v·dt)/dt, so
    /// f_c = min_cutoff + β(v + L/dt). Solved by bisection (L − v·τ(f_c(L)) increases).
    fn predicted_lag(p: &OneEuroParams, v: f64, dt: f64) -> f64 {
        let excess = |l: f64| l - v / (2.0 * PI * (p.min_cutoff + p.beta * (v + l / dt)));
        let (mut lo, mut hi) = (0.0, v / (2.0 * PI * p.min_cutoff));
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if excess(mid) > 0.0 {
                hi = mid
            } else {
                lo = mid
            }
        }
        lo
    }

    #[test]
    fn parses_params() {
        let p: OneEuroParams = "1.0,0.05".parse().unwrap();
        assert_eq!((p.min_cutoff, p.beta, p.d_cutoff), (1.0, 0.05, 1.0));
        let p: OneEuroParams = " 0.5 , 0 ".parse().unwrap();
        assert_eq!((p.min_cutoff, p.beta), (0.5, 0.0));
        assert_eq!(p.to_string().parse::<OneEuroParams>().unwrap(), p);
        for bad in [
            "1", "a,b", "-1,0", "0,0", "1,-0.1", "1,2,3", "nan,0", "1,inf", "",
        ] {
            let e = bad.parse::<OneEuroParams>().unwrap_err();
            eprintln!("{bad:?}: {e}");
            assert!(
                e.contains("MIN_CUTOFF,BETA") && e.contains(&format!("{bad:?}")),
                "{e}"
            );
        }
    }

    /// 10 s at 30 fps, 2° RMS noise: one joint swinging 0.5 rad at 0.3 Hz about a tilted
    /// axis (peak 54°/s), three held still (one of them near π).
    #[test]
    fn noisy_sequence_less_jitter_and_error() {
        let mut rng = Rng(7);
        let base = exp(Vector3::new(0.4, -0.3, 0.2));
        let a = axis(1.0, 2.0, 0.5);
        let still = [
            UnitQuaternion::identity(),
            exp(Vector3::new(0.3, -1.0, 0.4)),
            exp(axis(0.2, 0.1, 1.0) * 3.0),
        ];
        let n = 300;
        let truth: Vec<Vec<_>> = (0..n)
            .map(|k| {
                let t = k as f64 * DT;
                let mut f = vec![base * exp(a * 0.5 * (2.0 * PI * 0.3 * t).sin())];
                f.extend(still);
                f
            })
            .collect();
        let noisy: Vec<Vec<_>> = truth
            .iter()
            .map(|f| {
                f.iter()
                    .map(|q| q * exp(rng.tangent(2f64.to_radians())))
                    .collect()
            })
            .collect();
        let out = run(P, &noisy);
        // Skip the first second: the filter starts from the first (noisy) frame.
        let settled = 30..n;
        let err = |ys: &[Vec<UnitQuaternion<f64>>], j: usize| {
            rms(settled.clone().map(|k| deg(&truth[k][j], &ys[k][j])))
        };
        // Frame-to-frame change against the truth's change: jitter without the lag.
        let jitter = |ys: &[Vec<UnitQuaternion<f64>>], j: usize| {
            rms(settled.clone().map(|k| {
                let dy = ys[k - 1][j].inverse() * ys[k][j];
                let dg = truth[k - 1][j].inverse() * truth[k][j];
                deg(&dg, &dy)
            }))
        };
        let still_raw = rms((1..4).map(|j| err(&noisy, j)));
        let still_out = rms((1..4).map(|j| err(&out, j)));
        let (move_raw, move_out) = (err(&noisy, 0), err(&out, 0));
        let (jit_raw, jit_out) = (jitter(&noisy, 0), jitter(&out, 0));
        eprintln!(
            "still joints: RMS error {still_raw:.3}° raw, {still_out:.3}° filtered ({:.2}x)",
            still_raw / still_out
        );
        eprintln!(
            "moving joint: RMS error {move_raw:.3}° raw, {move_out:.3}° filtered; \
             jitter {jit_raw:.3}° raw, {jit_out:.3}° filtered ({:.2}x)",
            jit_raw / jit_out
        );
        assert!(still_raw / still_out >= 2.0);
        assert!(jit_raw / jit_out >= 2.0);
        assert!(move_out < move_raw);
    }

    /// Noise-free: rest, then a constant 90°/s about a tilted axis; then a 30° step.
    /// The steady-state lag must match `predicted_lag` (2.2° with P) and stay under 3°.
    #[test]
    fn lag_is_bounded() {
        let a = axis(0.5, -1.0, 2.0);
        let v = 90f64.to_radians();
        let (rest, ramp) = (30usize, 45); // 1 s still, then 1.5 s turning (135°)
        let truth: Vec<Vec<_>> = (0..rest + ramp)
            .map(|k| {
                let t = (k.saturating_sub(rest)) as f64 * DT;
                vec![exp(a * v * t)]
            })
            .collect();
        let out = run(P, &truth);
        let lag: Vec<f64> = (0..truth.len())
            .map(|k| deg(&truth[k][0], &out[k][0]))
            .collect();
        let settled = rest + 15; // 0.5 s into the turn
        let measured = lag[settled..].iter().cloned().fold(0.0, f64::max);
        let predicted = predicted_lag(&P, v, DT).to_degrees();
        eprintln!(
            "ramp 90°/s: max lag {:.2}° over the whole turn, {measured:.2}° after 0.5 s \
             (last frame {:.2}°), predicted steady state {predicted:.2}°",
            lag.iter().cloned().fold(0.0, f64::max),
            lag[lag.len() - 1]
        );
        assert!(measured < 3.0);
        assert!((lag[lag.len() - 1] - predicted).abs() < 0.05 * predicted);

        let target = exp(a * 30f64.to_radians());
        let truth: Vec<Vec<_>> = (0..60)
            .map(|k| {
                vec![if k < 30 {
                    UnitQuaternion::identity()
                } else {
                    target
                }]
            })
            .collect();
        let out = run(P, &truth);
        let err: Vec<f64> = (30..60).map(|k| deg(&target, &out[k][0])).collect();
        let frames = err.iter().position(|&e| e < 1.0).unwrap();
        eprintln!(
            "30° step: within 1° after {frames} frames ({:.0} ms); errors {:.2?}",
            frames as f64 * DT * 1000.0,
            &err[..frames + 1]
        );
        assert!(err.windows(2).all(|w| w[1] <= w[0]), "no overshoot");
        assert!(frames <= 3);
    }

    /// Ten noisy constant betas (std 0.05) and a translation moving at 0.5 m/s after 1 s
    /// of rest (1 cm std per axis), 10 s at 30 fps.
    #[test]
    fn betas_and_translation() {
        let mut rng = Rng(11);
        let n = 300;
        let beta_true: Vec<f32> = (0..10)
            .map(|_| (rng.uniform() * 3.0 - 1.5) as f32)
            .collect();
        let dir = axis(1.0, 0.2, -0.3);
        let (v, start) = (0.5, 30);
        let pos = |k: usize| {
            let s = k.saturating_sub(start) as f64 * DT * v;
            Vector3::new(0.1, -0.2, 3.0) + dir * s
        };
        let mut sm = BodySmoother::new(P);
        let mut clean = BodySmoother::new(P); // the same path without noise
        let (mut b_raw, mut b_out, mut t_jit_raw, mut t_jit_out, mut lag, mut lag_clean) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut prev: Option<(Vector3<f64>, Vector3<f64>)> = None;
        for k in 0..n {
            let t = k as f64 * DT;
            let mut b: Vec<f32> = beta_true
                .iter()
                .map(|&x| x + (0.05 * rng.gauss()) as f32)
                .collect();
            let raw_t = pos(k) + Vector3::new(rng.gauss(), rng.gauss(), rng.gauss()) * 0.01;
            let mut tr: [f64; 3] = raw_t.into();
            let raw_b = b.clone();
            sm.smooth(t, &mut [], &mut b, &mut tr);
            let mut tr_clean: [f64; 3] = pos(k).into();
            clean.smooth(t, &mut [], &mut [], &mut tr_clean);
            let out_t = Vector3::from(tr);
            if k >= start {
                // From 1 s on: the betas have settled, the translation is moving.
                for i in 0..10 {
                    b_raw.push((raw_b[i] - beta_true[i]) as f64);
                    b_out.push((b[i] - beta_true[i]) as f64);
                }
                let (pr, po) = prev.unwrap();
                let dg = pos(k) - pos(k - 1);
                t_jit_raw.push((raw_t - pr - dg).norm());
                t_jit_out.push((out_t - po - dg).norm());
            }
            if k >= start + 15 {
                lag.push((pos(k) - out_t).dot(&dir));
                lag_clean.push((pos(k) - Vector3::from(tr_clean)).dot(&dir));
            }
            prev = Some((raw_t, out_t));
        }
        let (br, bo) = (rms(b_raw), rms(b_out));
        let (jr, jo) = (rms(t_jit_raw), rms(t_jit_out));
        let mean_lag = lag.iter().sum::<f64>() / lag.len() as f64;
        let clean_lag = *lag_clean.last().unwrap();
        let predicted = predicted_lag(&P, v, DT);
        eprintln!(
            "betas: RMS error {br:.4} raw, {bo:.4} filtered ({:.2}x)",
            br / bo
        );
        eprintln!(
            "translation at 0.5 m/s: jitter {:.2} mm raw, {:.2} mm filtered ({:.2}x); lag \
             {:.1} mm mean with noise, {:.1} mm without, predicted {:.1} mm",
            jr * 1e3,
            jo * 1e3,
            jr / jo,
            mean_lag * 1e3,
            clean_lag * 1e3,
            predicted * 1e3
        );
        assert!(br / bo >= 2.0);
        assert!(jr / jo >= 2.0);
        assert!((clean_lag - predicted).abs() < 0.05 * predicted);
        assert!(mean_lag < 0.05 && clean_lag < 0.05, "lag under 5 cm");
    }

    /// A joint held at ~180° (truth oscillating ±1.5° about π, 1° RMS noise): the
    /// measurements' axis-angle flips between ~+π·a and ~-π·a from frame to frame. The
    /// filter only sees the small relative rotations, so it follows without a jump; a
    /// component-wise average of the axis-angle vectors lands near the identity instead.
    #[test]
    fn crosses_the_antipode_without_a_jump() {
        let mut rng = Rng(3);
        let a = axis(0.3, -0.2, 1.0);
        let truth: Vec<Vec<_>> = (0..150)
            .map(|k| {
                let th = PI + 1.5f64.to_radians() * (2.0 * PI * 0.5 * k as f64 * DT).sin();
                vec![exp(a * th)]
            })
            .collect();
        let noisy: Vec<Vec<_>> = truth
            .iter()
            .map(|f| vec![f[0] * exp(rng.tangent(1f64.to_radians()))])
            .collect();
        let out = run(P, &noisy);
        let aa: Vec<Vector3<f64>> = noisy
            .iter()
            .map(|f| Vector3::from(rotmat_to_axis_angle(&mat(&f[0]))).cast())
            .collect();
        let flipped = aa.iter().filter(|v| v.dot(&a) < 0.0).count();
        // The naive filter: a fixed exponential average of axis-angle components.
        let mut naive = aa[0];
        let mut naive_err: f64 = 0.0;
        for (k, v) in aa.iter().enumerate().skip(1) {
            naive += (v - naive) * 0.2;
            naive_err = naive_err.max(deg(&truth[k][0], &exp(naive)));
        }
        let err = (10..150).map(|k| deg(&truth[k][0], &out[k][0]));
        let max_err = err.fold(0.0, f64::max);
        let max_step = (1..150)
            .map(|k| deg(&out[k - 1][0], &out[k][0]))
            .fold(0.0, f64::max);
        eprintln!(
            "near π: {flipped}/150 measurements flipped axis; filtered max error {max_err:.2}° \
             (after 10 frames), max frame-to-frame step {max_step:.2}°; naive axis-angle \
             averaging max error {naive_err:.1}°"
        );
        assert!(
            flipped > 15 && flipped < 135,
            "the test must cross the antipode"
        );
        assert!(max_err < 2.0);
        assert!(max_step < 2.0);
        assert!(naive_err > 90.0, "the naive filter should fail here");
    }

    #[test]
    fn reset_gap_and_shape_change_pass_through() {
        let mut rng = Rng(5);
        let mut sm = BodySmoother::new(P);
        let frame = |rng: &mut Rng, joints: usize| {
            let m: Vec<Matrix3<f32>> = (0..joints).map(|_| mat(&exp(rng.tangent(0.5)))).collect();
            let b: Vec<f32> = (0..10).map(|_| rng.gauss() as f32).collect();
            (m, b, [rng.gauss(), rng.gauss(), 3.0 + rng.gauss()])
        };
        // Runs one frame; true when the output equals the input exactly.
        let step = |sm: &mut BodySmoother, rng: &mut Rng, t: f64, joints: usize| {
            let (m0, b0, t0) = frame(rng, joints);
            let (mut m, mut b, mut tr) = (m0.clone(), b0.clone(), t0);
            sm.smooth(t, &mut m, &mut b, &mut tr);
            m == m0 && b == b0 && tr == t0
        };
        assert!(step(&mut sm, &mut rng, 0.0, 24), "first frame");
        assert!(
            !step(&mut sm, &mut rng, 0.1, 24),
            "second frame is filtered"
        );
        sm.reset();
        assert!(step(&mut sm, &mut rng, 0.2, 24), "after reset");
        assert!(
            !step(&mut sm, &mut rng, 1.1, 24),
            "a 0.9 s gap still filters"
        );
        assert!(step(&mut sm, &mut rng, 2.2, 24), "a 1.1 s gap restarts");
        assert!(step(&mut sm, &mut rng, 2.2, 24), "same timestamp");
        assert!(step(&mut sm, &mut rng, 2.1, 24), "clock went backwards");
        assert!(!step(&mut sm, &mut rng, 2.15, 24));
        assert!(step(&mut sm, &mut rng, 2.2, 23), "joint count changed");
        let (mut m, mut b, mut tr) = frame(&mut rng, 23);
        b[3] = f32::NAN;
        sm.smooth(2.25, &mut m, &mut b, &mut tr);
        assert!(b[3].is_nan(), "a NaN passes through");
        assert!(step(&mut sm, &mut rng, 2.3, 23), "and restarts the filter");
        assert!(!step(&mut sm, &mut rng, 2.35, 23));
    }

    /// 24 joints, 100 s of a random walk with 10° noise at a jittery frame rate: every
    /// output stays a rotation to f32 precision.
    #[test]
    fn outputs_stay_orthonormal() {
        let mut rng = Rng(9);
        let mut sm = BodySmoother::new(P);
        let mut truth = vec![UnitQuaternion::identity(); 24];
        let (mut t, mut worst) = (0.0, 0.0f32);
        for _ in 0..3000 {
            t += (1.0 + rng.uniform()) / 40.0;
            let mut m: Vec<Matrix3<f32>> = truth
                .iter_mut()
                .map(|q| {
                    *q *= exp(rng.tangent(0.1));
                    mat(&(*q * exp(rng.tangent(10f64.to_radians()))))
                })
                .collect();
            sm.smooth(t, &mut m, &mut [], &mut [0.0; 3]);
            for r in &m {
                let e = (r.transpose() * r - Matrix3::identity()).abs().max();
                worst = worst.max(e).max((r.determinant() - 1.0).abs());
            }
        }
        eprintln!("orthonormality: worst |RᵀR - I| or |det - 1| {worst:.2e}");
        assert!(worst < 1e-5);
    }
}
