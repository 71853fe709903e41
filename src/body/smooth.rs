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
        for i in 0..N {
            self.dx[i] += ad * ((x[i] - self.x[i]) / dt - self.dx[i]);
        }
        let speed = self.dx.iter().map(|d| d * d).sum::<f64>().sqrt();
        let a = alpha(p.min_cutoff + p.beta * speed, dt);
        for i in 0..N {
            self.x[i] += a * (x[i] - self.x[i]);
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
    // Not `UnitQuaternion::from_matrix`: its iteration from the identity stalls at π.
    let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m.cast()));
    UnitQuaternion::new_normalize(q.into_inner()) // inputs are only nearly orthonormal
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
}
