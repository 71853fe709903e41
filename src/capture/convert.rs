//! Camera pixel formats to RGB.

use image::RgbImage;

/// YUYV 4:2:2 (Y0 U Y1 V per two pixels), BT.601 limited range, as V4L2 webcams and
/// vivid deliver it. `stride` is bytes per line (≥ 2·width). `None` if `data` is short.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32, stride: usize) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    let stride = stride.max(2 * w);
    if w % 2 != 0 || data.len() < stride * (h.saturating_sub(1)) + 2 * w {
        return None;
    }
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        let line = &data[y * stride..y * stride + 2 * w];
        let row = &mut out[y * w * 3..(y + 1) * w * 3];
        for (quad, rgb) in line.chunks_exact(4).zip(row.chunks_exact_mut(6)) {
            let (u, v) = (quad[1] as i32 - 128, quad[3] as i32 - 128);
            for (k, yy) in [quad[0], quad[2]].into_iter().enumerate() {
                let c = 298 * (yy as i32 - 16);
                let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
                rgb[3 * k] = clamp(c + 409 * v);
                rgb[3 * k + 1] = clamp(c - 100 * u - 208 * v);
                rgb[3 * k + 2] = clamp(c + 516 * u);
            }
        }
    }
    RgbImage::from_raw(width, height, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_known_colours() {
        // Two pixels each of: black (Y=16), white (Y=235), pure-ish red (BT.601).
        let data = [16, 128, 16, 128, 235, 128, 235, 128, 81, 90, 81, 240];
        let img = yuyv_to_rgb(&data, 6, 1, 12).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(2, 0).0, [255, 255, 255]);
        let red = img.get_pixel(4, 0).0;
        assert!(red[0] > 240 && red[1] < 10 && red[2] < 10, "{red:?}");
    }

    #[test]
    fn honours_stride_and_refuses_short_buffers() {
        let mut data = vec![0u8; 16 * 2];
        data[16] = 235; // second line starts at the stride
        data[17] = 128;
        data[19] = 128;
        let img = yuyv_to_rgb(&data, 2, 2, 16).unwrap();
        assert_eq!(img.get_pixel(0, 1).0, [255, 255, 255]);
        assert!(yuyv_to_rgb(&data[..10], 2, 2, 16).is_none());
    }
}
