//! V4L2 cameras through the `v4l` crate: memory-mapped streaming, YUYV or MJPEG.
//!
//! The driver may not grant what was asked: the format and frame rate it actually set
//! are read back, logged, and used. Frames are sliced by `bytesused`, not buffer size.

use std::path::{Path, PathBuf};

use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

use super::convert::yuyv_to_rgb;
use super::{decode_image, CaptureError, Frame, FrameSource};

#[derive(Debug, Clone)]
pub struct V4l2Config {
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// "YUYV" or "MJPG"; None: YUYV if offered, else MJPG.
    pub fourcc: Option<String>,
}

struct Open {
    // Field order matters: the stream must be dropped before the device.
    stream: Stream<'static>,
    _device: Device,
    width: u32,
    height: u32,
    stride: usize,
    fourcc: FourCC,
    fps: f64,
}

pub struct V4l2Source {
    cfg: V4l2Config,
    open: Option<Open>,
    frames: u64,
}

fn dev_err(device: &Path, what: &str, e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Device {
        device: device.display().to_string(),
        msg: format!("{what}: {e}"),
    }
}

/// Opening the device: a permission error is fatal and says what to do about it.
fn open_err(device: &Path, e: std::io::Error) -> CaptureError {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        return CaptureError::Fatal {
            device: device.display().to_string(),
            msg: format!(
                "cannot open: {e}; add the user to the video group \
                 (sudo usermod -aG video $USER, then log in again; docs/DEPLOY.md)"
            ),
        };
    }
    dev_err(device, "cannot open", e)
}

const YUYV: &[u8; 4] = b"YUYV";
const MJPG: &[u8; 4] = b"MJPG";

fn connect(cfg: &V4l2Config) -> Result<Open, CaptureError> {
    let path = &cfg.device;
    let device = Device::with_path(path).map_err(|e| open_err(path, e))?;
    let offered: Vec<FourCC> = device
        .enum_formats()
        .map_err(|e| dev_err(path, "cannot list formats", e))?
        .into_iter()
        .map(|f| f.fourcc)
        .collect();
    let wanted = match &cfg.fourcc {
        Some(f) => {
            let bytes: [u8; 4] = f.as_bytes().try_into().map_err(|_| {
                dev_err(
                    path,
                    "pixel format",
                    format!("{f:?} is not four characters"),
                )
            })?;
            FourCC::new(&bytes)
        }
        None if offered.contains(&FourCC::new(YUYV)) => FourCC::new(YUYV),
        None => FourCC::new(MJPG),
    };
    let mut fmt = device
        .format()
        .map_err(|e| dev_err(path, "cannot read format", e))?;
    fmt.width = cfg.width;
    fmt.height = cfg.height;
    fmt.fourcc = wanted;
    let fmt = device
        .set_format(&fmt)
        .map_err(|e| dev_err(path, "cannot set format", e))?;
    if fmt.fourcc != FourCC::new(YUYV) && fmt.fourcc != FourCC::new(MJPG) {
        return Err(dev_err(
            path,
            "pixel format",
            format!(
                "driver set {}, imphmr reads YUYV and MJPG (offered: {offered:?})",
                fmt.fourcc
            ),
        ));
    }
    let params = device
        .set_params(&v4l::video::capture::Parameters::with_fps(cfg.fps))
        .or_else(|_| device.params())
        .map_err(|e| dev_err(path, "cannot read frame rate", e))?;
    let fps = if params.interval.numerator > 0 {
        params.interval.denominator as f64 / params.interval.numerator as f64
    } else {
        0.0
    };
    if fmt.width != cfg.width || fmt.height != cfg.height || fmt.fourcc != wanted {
        tracing::warn!(
            "{}: asked for {}x{} {}, driver set {}x{} {}",
            path.display(),
            cfg.width,
            cfg.height,
            wanted,
            fmt.width,
            fmt.height,
            fmt.fourcc
        );
    }
    tracing::info!(
        "{}: capturing {}x{} {} at {:.2} fps (driver's settings)",
        path.display(),
        fmt.width,
        fmt.height,
        fmt.fourcc,
        fps
    );
    let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4)
        .map_err(|e| dev_err(path, "cannot start streaming", e))?;
    // A camera that stops delivering (unplugged, wedged) must surface as an error to
    // reconnect from, not as a capture thread blocked forever.
    stream.set_timeout(std::time::Duration::from_secs(3));
    Ok(Open {
        stream,
        _device: device,
        width: fmt.width,
        height: fmt.height,
        stride: fmt.stride as usize,
        fourcc: fmt.fourcc,
        fps,
    })
}

impl V4l2Source {
    pub fn open(cfg: V4l2Config) -> Result<V4l2Source, CaptureError> {
        let open = connect(&cfg)?;
        Ok(V4l2Source {
            cfg,
            open: Some(open),
            frames: 0,
        })
    }

    /// The format the driver actually set: width, height, fourcc, frames per second.
    pub fn actual(&self) -> Option<(u32, u32, String, f64)> {
        self.open
            .as_ref()
            .map(|o| (o.width, o.height, o.fourcc.to_string(), o.fps))
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let path = self.cfg.device.clone();
        let Some(open) = self.open.as_mut() else {
            return Err(dev_err(&path, "disconnected", "waiting to reconnect"));
        };
        let (data, fourcc, w, h, stride) = match open.stream.next() {
            Ok((buf, meta)) => {
                let used = (meta.bytesused as usize).min(buf.len());
                (
                    buf[..used].to_vec(),
                    open.fourcc,
                    open.width,
                    open.height,
                    open.stride,
                )
            }
            Err(e) => {
                self.open = None;
                return Err(dev_err(&path, "capture failed", e));
            }
        };
        self.frames += 1;
        let origin = format!("{}#{}", path.display(), self.frames);
        let image = if fourcc == FourCC::new(MJPG) {
            decode_image(&data, Path::new(&origin))?
        } else {
            yuyv_to_rgb(&data, w, h, stride).ok_or_else(|| CaptureError::Decode {
                path: origin.clone().into(),
                msg: format!("short YUYV frame: {} bytes for {w}x{h}", data.len()),
            })?
        };
        Ok(Some(Frame::now(origin, image)))
    }

    fn describe(&self) -> String {
        match self.actual() {
            Some((w, h, f, fps)) => format!(
                "V4L2 {} ({w}x{h} {f} at {fps:.2} fps, as set by the driver)",
                self.cfg.device.display()
            ),
            None => format!("V4L2 {} (disconnected)", self.cfg.device.display()),
        }
    }

    fn is_live(&self) -> bool {
        true
    }

    fn reconnect(&mut self) -> Result<(), CaptureError> {
        self.open = None;
        self.open = Some(connect(&self.cfg)?);
        Ok(())
    }
}

/// `imphmr devices`: every V4L2 node with its formats and frame sizes.
pub fn list_devices() -> Vec<String> {
    let mut out = vec![];
    for node in v4l::context::enum_devices() {
        let path = node.path().to_path_buf();
        let name = node.name().unwrap_or_else(|| "?".into());
        out.push(format!("{} ({name})", path.display()));
        let Ok(dev) = Device::with_path(&path) else {
            out.push("    cannot open (permissions? add yourself to the video group)".into());
            continue;
        };
        for f in dev.enum_formats().unwrap_or_default() {
            let sizes: Vec<String> = dev
                .enum_framesizes(f.fourcc)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|s| s.size.to_discrete())
                .map(|d| format!("{}x{}", d.width, d.height))
                .collect();
            out.push(format!(
                "    {} {}: {}",
                f.fourcc,
                f.description,
                sizes.join(" ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_is_fatal_and_says_what_to_do() {
        let e = open_err(
            Path::new("/dev/video0"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(e.is_fatal() && !e.is_disconnect());
        assert!(e.to_string().contains("video group"), "{e}");
        let gone = open_err(
            Path::new("/dev/video0"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(gone.is_disconnect() && !gone.is_fatal());
    }
}
