//! JSON lines for humans and scripts: one object per image / frame.

use serde_json::{json, Map, Value};

use super::Outcome;
use crate::body::rotation::{axis_angles, rotmat_to_axis_angle};

/// What to add beyond θ (axis-angle), β, camera and timings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    pub rotmat: bool,
    pub opacity: bool,
    /// With several views: every view's answer, brought back to the input view.
    pub views: bool,
}

/// The JSON object of one outcome: θ, β and the camera as sent (smoothed where the body
/// stage smoothed them), the body, the views' spread, timings and `extras`.
pub fn inference_line(outcome: &Outcome, extras: Extras) -> Value {
    let (net, body, pose, bx) = (
        &outcome.network,
        &outcome.body,
        outcome.pose(),
        &outcome.person_box,
    );
    let mut o = Map::new();
    o.insert("file".into(), json!(outcome.origin));
    o.insert(
        "image_size".into(),
        json!([outcome.frame_size.0, outcome.frame_size.1]),
    );
    o.insert("box".into(), json!([bx.x, bx.y, bx.w, bx.h]));
    o.insert("view_deg".into(), json!(net.view_deg));
    o.insert("theta".into(), json!(pose.axis_angle));
    o.insert("betas".into(), json!(pose.betas));
    o.insert("cam".into(), json!(pose.cam));
    o.insert("camera".into(), json!(body.camera.name()));
    o.insert("cam_t".into(), json!(pose.translation));
    if let Some(joints) = &body.joints {
        o.insert("joints".into(), json!(joints));
    }
    if let Some(mv) = &body.views {
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
        let r: Vec<Vec<f32>> = pose
            .rotmats
            .iter()
            .map(|m| m.transpose().as_slice().to_vec())
            .collect();
        o.insert("rotmat".into(), json!(r));
    }
    if extras.opacity {
        let r = &net.rendered;
        o.insert(
            "opacity".into(),
            json!({"height": r.height, "width": r.width, "data": r.opacity}),
        );
    }
    o.insert("ms".into(), json!(net.times));
    Value::Object(o)
}
