//! The person box and the network input: crop, resize, normalise.
//!
//! The resampling is exactly the reference's (`tools/imphmr_ref/geometry.py`,
//! `crop_normalise`): bilinear at pixel centres, clamped at the image border, f32 with
//! the same order of operations, so parity holds from the first stage.

pub mod track;

use std::fmt;
use std::str::FromStr;

use image::RgbImage;

/// A person box in image pixels: top-left corner, width, height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PersonBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BoxError {
    #[error("box {0:?} is not x,y,w,h (four numbers, e.g. 40,10,300,300)")]
    Syntax(String),
    #[error("box {bx} has a zero or negative size")]
    Empty { bx: PersonBox },
    #[error("box {bx} lies outside the {width}x{height} image")]
    Outside {
        bx: PersonBox,
        width: u32,
        height: u32,
    },
}

impl fmt::Display for PersonBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.w, self.h)
    }
}

impl FromStr for PersonBox {
    type Err = BoxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| BoxError::Syntax(s.to_string()))?;
        match v[..] {
            [x, y, w, h] if v.iter().all(|c| c.is_finite()) => Ok(PersonBox { x, y, w, h }),
            _ => Err(BoxError::Syntax(s.to_string())),
        }
    }
}

impl PersonBox {
    /// The default box: the largest centred square.
    pub fn centre_square(width: u32, height: u32) -> PersonBox {
        let side = width.min(height) as f64;
        PersonBox {
            x: (width as f64 - side) / 2.0,
            y: (height as f64 - side) / 2.0,
            w: side,
            h: side,
        }
    }

    /// Refuse boxes that are empty or reach outside the image.
    pub fn check_inside(&self, width: u32, height: u32) -> Result<(), BoxError> {
        if !(self.w > 0.0 && self.h > 0.0) {
            return Err(BoxError::Empty { bx: *self });
        }
        let inside = self.x >= 0.0
            && self.y >= 0.0
            && self.x + self.w <= width as f64
            && self.y + self.h <= height as f64;
        if !inside {
            return Err(BoxError::Outside {
                bx: *self,
                width,
                height,
            });
        }
        Ok(())
    }
}

/// Crop `bx` out of `rgb` to a `size`×`size` CHW tensor, scaled to [0, 1] and normalised
/// with `mean` and `std` per channel.
pub fn crop_normalise(
    rgb: &RgbImage,
    bx: &PersonBox,
    size: usize,
    mean: [f32; 3],
    std: [f32; 3],
) -> Vec<f32> {
    let (wid, hgt) = (rgb.width() as usize, rgb.height() as usize);
    // Source coordinates of each output column / row, and their bilinear weights.
    let taps = |origin: f64, extent: f64, limit: usize| -> Vec<(usize, usize, f32)> {
        (0..size)
            .map(|j| {
                let s = origin + (j as f64 + 0.5) * extent / size as f64 - 0.5;
                let s = s.clamp(0.0, (limit - 1) as f64);
                let lo = s.floor() as usize;
                let hi = (lo + 1).min(limit - 1);
                (lo, hi, (s - lo as f64) as f32)
            })
            .collect()
    };
    let xs = taps(bx.x, bx.w, wid);
    let ys = taps(bx.y, bx.h, hgt);
    let raw = rgb.as_raw();
    let px = |y: usize, x: usize, c: usize| raw[(y * wid + x) * 3 + c] as f32 / 255.0f32;
    let mut out = vec![0f32; 3 * size * size];
    for (i, &(y_lo, y_hi, fy)) in ys.iter().enumerate() {
        for (j, &(x_lo, x_hi, fx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let top = px(y_lo, x_lo, c) * (1.0 - fx) + px(y_lo, x_hi, c) * fx;
                let bot = px(y_hi, x_lo, c) * (1.0 - fx) + px(y_hi, x_hi, c) * fx;
                let v = top * (1.0 - fy) + bot * fy;
                out[(c * size + i) * size + j] = (v - mean[c]) / std[c];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_boxes() {
        let b: PersonBox = "10, 20,30,40".parse().unwrap();
        assert_eq!(
            b,
            PersonBox {
                x: 10.0,
                y: 20.0,
                w: 30.0,
                h: 40.0
            }
        );
        assert!("1,2,3".parse::<PersonBox>().is_err());
        assert!("a,b,c,d".parse::<PersonBox>().is_err());
        assert!(b.check_inside(40, 60).is_ok());
        assert!(matches!(
            b.check_inside(39, 60),
            Err(BoxError::Outside { .. })
        ));
        let neg: PersonBox = "-1,0,10,10".parse().unwrap();
        assert!(neg.check_inside(100, 100).is_err());
        let empty: PersonBox = "0,0,0,10".parse().unwrap();
        assert!(matches!(
            empty.check_inside(100, 100),
            Err(BoxError::Empty { .. })
        ));
    }

    #[test]
    fn centre_square_is_largest_centred() {
        let b = PersonBox::centre_square(640, 480);
        assert_eq!(
            b,
            PersonBox {
                x: 80.0,
                y: 0.0,
                w: 480.0,
                h: 480.0
            }
        );
    }

    #[test]
    fn identity_crop_reproduces_pixels() {
        // A box equal to the image at the output size samples every pixel centre exactly.
        let img = RgbImage::from_fn(4, 4, |x, y| image::Rgb([(x * 60) as u8, (y * 60) as u8, 7]));
        let bx = PersonBox::centre_square(4, 4);
        let t = crop_normalise(&img, &bx, 4, [0.0; 3], [1.0; 3]);
        assert!((t[2] - 120.0 / 255.0).abs() < 1e-6); // channel 0, row 0, col 2
        assert!((t[16 + 3 * 4] - 180.0 / 255.0).abs() < 1e-6); // channel 1, row 3, col 0
        assert!((t[32 + 5] - 7.0 / 255.0).abs() < 1e-6);
    }
}
