//! Opening a source from what the user typed: `-` (MJPEG on stdin), `/dev/videoN` (a
//! V4L2 camera), a `.mjpeg`/`.mjpg` file, an image file or a folder of images.

use std::path::PathBuf;

use super::{CaptureError, FrameSource, MjpegStream, Stills};

/// What a camera is asked for, and whether files repeat.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// YUYV or MJPG; None: YUYV if offered.
    pub pixel_format: Option<String>,
    /// Read image files or folders over and over.
    pub looped: bool,
    /// Treat a pipe or an MJPEG file as live, like a camera (drop the oldest frames
    /// when inference is behind) rather than read it at inference's pace.
    pub live: bool,
}

/// The source `src` names.
pub fn open(src: &str, opts: &SourceOptions) -> Result<Box<dyn FrameSource>, CaptureError> {
    if src == "-" {
        return Ok(Box::new(MjpegStream::new(
            "stdin",
            Box::new(std::io::stdin()),
            opts.live,
        )));
    }
    let path = PathBuf::from(src);
    if src.starts_with("/dev/video") {
        #[cfg(feature = "v4l2")]
        {
            let cfg = super::v4l2::V4l2Config {
                device: path,
                width: opts.width,
                height: opts.height,
                fps: opts.fps,
                fourcc: opts.pixel_format.clone(),
            };
            return Ok(Box::new(super::v4l2::V4l2Source::open(cfg)?));
        }
        #[cfg(not(feature = "v4l2"))]
        return Err(CaptureError::Fatal {
            device: src.into(),
            msg: "this build has no V4L2 support (cargo feature v4l2)".into(),
        });
    }
    let is_mjpeg = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mjpeg") || e.eq_ignore_ascii_case("mjpg"));
    if is_mjpeg {
        let file = std::fs::File::open(&path).map_err(|cause| CaptureError::Io {
            path: path.clone(),
            cause,
        })?;
        return Ok(Box::new(MjpegStream::new(src, Box::new(file), opts.live)));
    }
    if !path.exists() {
        return Err(CaptureError::Fatal {
            device: src.into(),
            msg: "no such camera, file or folder".into(),
        });
    }
    Ok(Box::new(Stills::new(&[path], opts.looped)?))
}
