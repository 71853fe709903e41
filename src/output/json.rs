//! JSON lines for humans and scripts: one object per image / frame.

use serde_json::{json, Map, Value};

use crate::body::rotation::rotmat_to_axis_angle;
use crate::body::stage::axis_angles;
use crate::body::BodyResult;
use crate::crop::PersonBox;
use crate::engine::Inference;

/// What to add beyond θ (axis-angle), β, camera and timings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    pub rotmat: bool,
    pub opacity: bool,
    /// With several views: every view's answer, brought back to the input view.
    pub views: bool,
}

pub fn inference_line(
    file: &str,
    size: (u32, u32),
    bx: &PersonBox,
    inf: &Inference,
    body: &BodyResult,
    opacity_shape: (usize, usize),
    extras: Extras,
) -> Value {
    let mut o = Map::new();
    o.insert("file".into(), json!(file));
    o.insert("image_size".into(), json!([size.0, size.1]));
    o.insert("box".into(), json!([bx.x, bx.y, bx.w, bx.h]));
    o.insert("view_deg".into(), json!(inf.view_deg));
    o.insert("theta".into(), json!(inf.axis_angle));
    o.insert("betas".into(), json!(inf.regressed.betas));
    o.insert("cam".into(), json!(inf.regressed.cam));
    o.insert("camera".into(), json!(body.camera.name()));
    o.insert("cam_t".into(), json!(body.translation));
    if let Some(joints) = &body.joints {
        o.insert("joints".into(), json!(joints));
    }
    if let Some(mv) = &inf.views {
        o.insert("ambiguity".into(), json!(mv.ambiguity.pose_rad));
        o.insert("ambiguity_betas".into(), json!(mv.ambiguity.betas_std));
        if extras.views {
            let per_view: Vec<Value> = mv
                .estimates
                .iter()
                .zip(&mv.deviation_rad)
                .map(|(e, dev)| {
                    json!({
                        "view_deg": e.view_deg,
                        "theta": axis_angles(&e.canonical()),
                        "root_as_seen": e.rotmats.first().map(rotmat_to_axis_angle),
                        "betas": e.betas,
                        "cam": e.cam,
                        "deviation_rad": dev,
                    })
                })
                .collect();
            o.insert("views".into(), Value::Array(per_view));
        }
    }
    if extras.rotmat {
        // Row-major 3×3 per joint.
        let r: Vec<Vec<f32>> = inf
            .rotmats
            .iter()
            .map(|m| m.transpose().as_slice().to_vec())
            .collect();
        o.insert("rotmat".into(), json!(r));
    }
    if extras.opacity {
        o.insert(
            "opacity".into(),
            json!({"height": opacity_shape.0, "width": opacity_shape.1,
                   "data": inf.rendered.opacity}),
        );
    }
    o.insert("ms".into(), json!(inf.times));
    Value::Object(o)
}
