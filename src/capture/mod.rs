//! Frame sources. For now: still images (PNG, JPEG) from files.

use std::path::{Path, PathBuf};

use image::RgbImage;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: not a readable PNG or JPEG image ({msg})", path.display())]
    Decode { path: PathBuf, msg: String },
}

/// Decode a PNG or JPEG file (by content, not extension) into 8-bit RGB; grey and
/// alpha images are converted.
pub fn load_image(path: &Path) -> Result<RgbImage, CaptureError> {
    let bytes = std::fs::read(path).map_err(|cause| CaptureError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let decode_err = |msg: String| CaptureError::Decode {
        path: path.to_path_buf(),
        msg,
    };
    let format = image::guess_format(&bytes).map_err(|e| decode_err(e.to_string()))?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(decode_err(format!("format {format:?} is not supported")));
    }
    let img = image::load_from_memory_with_format(&bytes, format)
        .map_err(|e| decode_err(e.to_string()))?;
    Ok(img.to_rgb8())
}
