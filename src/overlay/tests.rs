//! Golden pictures and robustness of `draw`. `IMPHMR_BLESS=1` rewrites the goldens in
//! tests/data/overlay/ after a deliberate change to the drawing; look at them before
//! committing.

use std::path::PathBuf;

use image::{Rgb, RgbImage};

use super::*;

/// A 160×120 frame with a smooth gradient, so every drawn pixel is visible.
fn gradient() -> RgbImage {
    RgbImage::from_fn(160, 120, |x, y| {
        Rgb([(x * 255 / 159) as u8, (y * 255 / 119) as u8, 128])
    })
}

/// A person standing facing the camera (their left is the image's right), SMPL order.
const STANDING: [[f32; 2]; 24] = [
    [80.0, 72.0],  // 0 pelvis
    [86.0, 74.0],  // 1 left hip
    [74.0, 74.0],  // 2 right hip
    [80.0, 66.0],  // 3 spine1
    [88.0, 90.0],  // 4 left knee
    [72.0, 90.0],  // 5 right knee
    [80.0, 60.0],  // 6 spine2
    [89.0, 106.0], // 7 left ankle
    [71.0, 106.0], // 8 right ankle
    [80.0, 55.0],  // 9 spine3
    [93.0, 110.0], // 10 left foot
    [67.0, 110.0], // 11 right foot
    [80.0, 46.0],  // 12 neck
    [84.0, 49.0],  // 13 left collar
    [76.0, 49.0],  // 14 right collar
    [80.0, 38.0],  // 15 head
    [90.0, 50.0],  // 16 left shoulder
    [70.0, 50.0],  // 17 right shoulder
    [97.0, 61.0],  // 18 left elbow
    [63.0, 61.0],  // 19 right elbow
    [103.0, 71.0], // 20 left wrist
    [57.0, 71.0],  // 21 right wrist
    [105.0, 75.0], // 22 left hand
    [55.0, 75.0],  // 23 right hand
];

/// A blob brightest in the middle, fading to nothing at two corners.
const OPACITY: [f32; 16] = [
    0.0, 0.2, 0.2, 0.0, //
    0.2, 1.0, 1.0, 0.2, //
    0.2, 1.0, 0.8, 0.2, //
    0.0, 0.5, 0.5, 0.1, //
];

fn caption() -> Vec<String> {
    vec![
        "12.7 fps  78 ms".into(),
        "random weights: not a pose".into(),
    ]
}

fn person_box() -> PersonBox {
    PersonBox {
        x: 48.0,
        y: 32.0,
        w: 64.0,
        h: 84.0,
    }
}

/// Compares with tests/data/overlay/<name>.png, or writes it under IMPHMR_BLESS=1.
fn check_golden(name: &str, actual: &RgbImage) {
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/overlay")
        .join(format!("{name}.png"));
    if std::env::var("IMPHMR_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        actual.save(&golden).unwrap();
        eprintln!("IMPHMR_BLESS=1: wrote {}", golden.display());
        return;
    }
    let expected = image::open(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (IMPHMR_BLESS=1 writes it)", golden.display()))
        .to_rgb8();
    assert_eq!(expected.dimensions(), actual.dimensions(), "{name}: size");
    let differ: Vec<(u32, u32)> = actual
        .enumerate_pixels()
        .filter(|(x, y, p)| expected.get_pixel(*x, *y) != *p)
        .map(|(x, y, _)| (x, y))
        .collect();
    if let Some(&(x, y)) = differ.first() {
        let out = std::env::temp_dir().join(format!("imphmr-overlay-{name}.actual.png"));
        actual.save(&out).unwrap();
        panic!(
            "{name}: {} pixels differ from {}; first at ({x}, {y}): expected {:?}, got {:?}; \
             actual picture written to {}",
            differ.len(),
            golden.display(),
            expected.get_pixel(x, y).0,
            actual.get_pixel(x, y).0,
            out.display()
        );
    }
}

#[test]
fn overlay_golden_skeleton() {
    let mut frame = gradient();
    let caption = caption();
    let scene = Scene {
        person_box: person_box(),
        skeleton: Some(&STANDING),
        parents: &SMPL_PARENTS,
        // Ignored: the skeleton wins.
        opacity: Some((&OPACITY, 4, 4)),
        caption: &caption,
    };
    draw(&mut frame, &scene);
    check_golden("skeleton", &frame);
}

#[test]
fn overlay_golden_opacity() {
    let mut frame = gradient();
    let caption = vec!["no body model: opacity".to_string()];
    let scene = Scene {
        person_box: person_box(),
        skeleton: None,
        parents: &SMPL_PARENTS,
        opacity: Some((&OPACITY, 4, 4)),
        caption: &caption,
    };
    draw(&mut frame, &scene);
    check_golden("opacity", &frame);
}

#[test]
fn overlay_bad_joints_are_skipped() {
    let mut joints = STANDING;
    joints[4] = [f32::NAN, 90.0]; // left knee: both its bones go
    joints[15] = [f32::INFINITY, f32::NEG_INFINITY];
    joints[20] = [1e30, -1e30]; // far off: skipped like NaN
    joints[21] = [-5000.0, 71.0]; // off-screen but sane: the forearm is clipped
    let caption = Vec::new();
    let scene = Scene {
        person_box: PersonBox {
            x: f64::NAN,
            y: 0.0,
            w: 1e300,
            h: -3.0,
        },
        skeleton: Some(&joints),
        parents: &SMPL_PARENTS,
        opacity: None,
        caption: &caption,
    };
    let mut frame = gradient();
    draw(&mut frame, &scene);
    // Nothing drawn at the NaN knee; the pelvis still has its dot.
    assert_eq!(
        *frame.get_pixel(88, 90),
        gradient().get_pixel(88, 90).to_owned()
    );
    assert_ne!(frame.get_pixel(80, 72), gradient().get_pixel(80, 72));
    // The right forearm runs almost level from the elbow (y 61) out of the left edge.
    assert_ne!(frame.get_pixel(0, 61), gradient().get_pixel(0, 61));

    // A short skeleton, parents out of range, an empty or inconsistent opacity map.
    let scene = Scene {
        person_box: person_box(),
        skeleton: Some(&STANDING[..3]),
        parents: &[-1, 0, 7, 99],
        opacity: Some((&OPACITY, 5, 4)),
        caption: &caption,
    };
    draw(&mut frame, &scene);
    let scene = Scene {
        skeleton: None,
        opacity: Some((&[], 0, 0)),
        ..scene
    };
    draw(&mut frame, &scene);
    draw(&mut RgbImage::new(0, 0), &scene);
}

#[test]
fn overlay_clip_segment() {
    let (lo, hi) = ([0.0, 0.0], [10.0, 10.0]);
    assert_eq!(
        clip_segment([-10.0, 5.0], [20.0, 5.0], lo, hi),
        Some(([0.0, 5.0], [10.0, 5.0]))
    );
    assert_eq!(
        clip_segment([2.0, 2.0], [3.0, 3.0], lo, hi),
        Some(([2.0, 2.0], [3.0, 3.0]))
    );
    assert_eq!(clip_segment([-1.0, 5.0], [-1.0, 6.0], lo, hi), None);
    assert_eq!(clip_segment([-5.0, 20.0], [20.0, 30.0], lo, hi), None);
}
