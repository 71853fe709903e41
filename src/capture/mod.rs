//! Frame sources: still images, folders of them, MJPEG streams (stdin or a file, for
//! ffmpeg / gstreamer pipes) and, with the `v4l2` feature, V4L2 cameras.
//!
//! Every source yields `Frame`s stamped at capture with the pipeline's one clock.

pub mod convert;
mod mjpeg;
mod open;
#[cfg(feature = "v4l2")]
pub mod v4l2;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use image::RgbImage;

pub use mjpeg::MjpegStream;
pub use open::{open, SourceOptions};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: not a readable PNG or JPEG image ({msg})", path.display())]
    Decode { path: PathBuf, msg: String },
    #[error("{device}: {msg}")]
    Device { device: String, msg: String },
    /// Retrying cannot help (permissions): the run stops instead of reconnecting forever.
    #[error("{device}: {msg}")]
    Fatal { device: String, msg: String },
}

impl CaptureError {
    /// Whether the source itself is gone (worth reconnecting), as opposed to one bad frame.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, CaptureError::Device { .. })
    }

    /// Whether the source can never deliver, so the run must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self, CaptureError::Fatal { .. })
    }
}

/// One captured image and when it was taken.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Where it came from: a file name, or "device#N".
    pub origin: String,
    pub image: RgbImage,
    /// Wall clock at capture (for the packet's timestamp).
    pub captured_at: SystemTime,
    /// Monotonic clock at capture (for latencies).
    pub captured: Instant,
}

impl Frame {
    pub fn now(origin: String, image: RgbImage) -> Frame {
        Frame {
            origin,
            image,
            captured_at: SystemTime::now(),
            captured: Instant::now(),
        }
    }
}

/// Anything that produces frames. `Ok(None)` means the source is finished (end of a
/// file list or a stream); a camera never finishes.
pub trait FrameSource: Send {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError>;
    /// One line for logs: what is being read, at what size and rate if known.
    fn describe(&self) -> String;
    /// A live source (a camera, a pipe) must never wait for inference: when the
    /// pipeline is behind, its oldest frames are dropped. Files are read at the pace of
    /// inference instead, and lose nothing.
    fn is_live(&self) -> bool {
        false
    }
    /// How long to wait before the next read, if the source has nothing worth reading
    /// yet (a looped folder whose every file failed on the last pass). The capture loop
    /// does the waiting, so that a signal or `--frames` still stops the run at once.
    fn pause(&mut self) -> Option<Duration> {
        None
    }
    /// Try to reopen a source that reported a disconnect.
    fn reconnect(&mut self) -> Result<(), CaptureError> {
        Err(CaptureError::Device {
            device: self.describe(),
            msg: "this source cannot reconnect".into(),
        })
    }
}

/// Backoff between attempts at a failing source (a camera's reconnects, a looped folder's
/// all-failed passes): doubles from 100 ms up to 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6)).min(5_000))
}

/// The largest image file read into memory.
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// The largest image decoded, in pixels (width × height, any channel count or depth):
/// 8192 × 8192. A small file can declare a huge image (a "decompression bomb", greyscale
/// ones included); the size is checked from the header before anything is allocated.
pub const MAX_IMAGE_PIXELS: u64 = 8192 * 8192;

/// Decode a PNG or JPEG file (by content, not extension) into 8-bit RGB; grey and
/// alpha images are converted. Only regular files are read (a FIFO or a device would
/// block or never end), up to `MAX_IMAGE_FILE_BYTES`.
pub fn load_image(path: &Path) -> Result<RgbImage, CaptureError> {
    use std::io::Read;
    let io_err = |cause| CaptureError::Io {
        path: path.to_path_buf(),
        cause,
    };
    check_regular_file(path).map_err(io_err)?;
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut bytes = vec![];
    file.take(MAX_IMAGE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_IMAGE_FILE_BYTES {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB: not an image",
                MAX_IMAGE_FILE_BYTES >> 20
            ),
        )));
    }
    decode_image(&bytes, path)
}

/// A FIFO, socket or device given as a still image is refused before it is opened.
pub fn check_regular_file(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() && !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO or a device?): images are read from files; \
             pipe an MJPEG stream to --source - instead",
        ));
    }
    Ok(())
}

/// Decode PNG or JPEG bytes; `path` only names them in errors. A JPEG must be whole
/// (start marker, segments, end marker): a truncated one is an error, not a picture
/// padded with grey.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<RgbImage, CaptureError> {
    let decode_err = |msg: String| CaptureError::Decode {
        path: path.to_path_buf(),
        msg,
    };
    let format = image::guess_format(bytes).map_err(|e| decode_err(e.to_string()))?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(decode_err(format!("format {format:?} is not supported")));
    }
    if format == image::ImageFormat::Jpeg {
        mjpeg::check_jpeg_structure(bytes).map_err(|m| decode_err(format!("JPEG {m}")))?;
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| decode_err(e.to_string()))?;
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(decode_err(format!(
            "{w}x{h} pixels is over the budget of {MAX_IMAGE_PIXELS} pixels (8192 x 8192)"
        )));
    }
    reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| decode_err(e.to_string()))?;
    Ok(img.to_rgb8())
}

fn is_image_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

/// Still images: files, and folders (their PNG/JPEG files in name order), read once or
/// in a loop.
pub struct Stills {
    paths: Vec<PathBuf>,
    next: usize,
    looped: bool,
    /// Files of this pass that could not be read.
    unreadable_in_pass: usize,
    /// Passes in a row in which no file could be read (looped): each waits longer.
    empty_passes: u32,
}

impl Stills {
    pub fn new(inputs: &[PathBuf], looped: bool) -> Result<Stills, CaptureError> {
        let mut paths = vec![];
        for p in inputs {
            if p.is_dir() {
                let rd = std::fs::read_dir(p).map_err(|cause| CaptureError::Io {
                    path: p.clone(),
                    cause,
                })?;
                let mut found: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.is_file() && is_image_name(f))
                    .collect();
                found.sort();
                if found.is_empty() {
                    return Err(CaptureError::Io {
                        path: p.clone(),
                        cause: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "folder holds no .png, .jpg or .jpeg file",
                        ),
                    });
                }
                paths.extend(found);
            } else {
                check_regular_file(p).map_err(|cause| CaptureError::Io {
                    path: p.clone(),
                    cause,
                })?;
                paths.push(p.clone());
            }
        }
        Ok(Stills {
            paths,
            next: 0,
            looped,
            unreadable_in_pass: 0,
            empty_passes: 0,
        })
    }
}

impl FrameSource for Stills {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        if self.next == self.paths.len() {
            if !self.looped || self.paths.is_empty() {
                return Ok(None);
            }
            self.next = 0;
            self.unreadable_in_pass = 0;
        }
        let path = &self.paths[self.next];
        self.next += 1;
        match load_image(path) {
            Ok(image) => Ok(Some(Frame::now(path.display().to_string(), image))),
            Err(e) => {
                self.unreadable_in_pass += 1;
                Err(e)
            }
        }
    }

    /// A loop over files that all fail (unreadable, or gone) must not spin: 0.1 s
    /// doubling to 5 s between such passes, back to none once a file reads again.
    fn pause(&mut self) -> Option<Duration> {
        let wrapping = self.looped && self.next == self.paths.len();
        if !wrapping {
            return None;
        }
        if self.unreadable_in_pass < self.paths.len() {
            self.empty_passes = 0;
            return None;
        }
        self.empty_passes += 1;
        Some(backoff(self.empty_passes - 1))
    }

    fn describe(&self) -> String {
        format!(
            "{} image file(s){}",
            self.paths.len(),
            if self.looped { ", looped" } else { "" }
        )
    }
}

/// One image, over and over, as fast as it is taken: `imphmr bench`'s pipelined run
/// (not live, so nothing is dropped and the pace is the pipeline's).
pub struct Repeat {
    image: RgbImage,
    origin: String,
}

impl Repeat {
    pub fn new(image: RgbImage, origin: String) -> Repeat {
        Repeat { image, origin }
    }
}

impl FrameSource for Repeat {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        Ok(Some(Frame::now(self.origin.clone(), self.image.clone())))
    }

    fn describe(&self) -> String {
        format!("{} repeated", self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_looped_folder_pauses_only_after_a_pass_in_which_every_file_failed() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("a.png");
        RgbImage::new(4, 4).save(&good).unwrap();
        let mut stills = Stills::new(&[tmp.path().to_path_buf()], true).unwrap();
        let mut pauses = vec![];
        for pass in 0..5 {
            if pass == 1 {
                std::fs::remove_file(&good).unwrap(); // vanishes mid-run
            }
            if pass == 4 {
                RgbImage::new(4, 4).save(&good).unwrap(); // and comes back
            }
            pauses.push(stills.pause());
            let read = stills.next_frame();
            assert_eq!(read.is_ok(), pass == 0 || pass == 4, "pass {pass}");
        }
        let ms = |n| Some(Duration::from_millis(n));
        // Before a pass that follows an all-failed pass: 0.1 s, doubling.
        assert_eq!(pauses, [None, None, ms(100), ms(200), ms(400)]);
        assert_eq!(stills.pause(), None, "a file read again: no pause");
    }
}
