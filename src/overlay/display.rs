//! Where finished pictures go: numbered PNG files, or a Linux framebuffer.
//!
//! The framebuffer is written as a plain file (no ioctls, no libc): its geometry comes
//! from sysfs, which every fbdev driver fills in, so the same code runs on any board
//! with a display and tests can use a temporary file.

use std::fs::{self, OpenOptions};
use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use image::{ImageFormat, RgbImage};

/// A place to show pictures, one after another.
pub trait Display: Send {
    /// Where the pictures go, for logs and errors.
    fn name(&self) -> String;
    /// Shows `frame`; `sequence` numbers the pictures (file names, logs).
    fn show(&mut self, sequence: u32, frame: &RgbImage) -> io::Result<()>;
}

/// An error that keeps `e`'s kind and says what it was about.
fn context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Writes each picture to `{sequence:06}.png` in a folder.
pub struct PngDir {
    dir: PathBuf,
}

impl PngDir {
    /// Creates the folder (and its parents) when missing.
    pub fn create(dir: &Path) -> io::Result<PngDir> {
        fs::create_dir_all(dir)
            .map_err(|e| context(e, format!("cannot create {}", dir.display())))?;
        Ok(PngDir {
            dir: dir.to_path_buf(),
        })
    }

    /// The file picture `sequence` goes to.
    pub fn path(&self, sequence: u32) -> PathBuf {
        self.dir.join(format!("{sequence:06}.png"))
    }
}

impl Display for PngDir {
    fn name(&self) -> String {
        self.dir.display().to_string()
    }

    fn show(&mut self, sequence: u32, frame: &RgbImage) -> io::Result<()> {
        let path = self.path(sequence);
        // Encoded in memory first so a failed write is an io::Error naming the file.
        let mut png = Cursor::new(Vec::new());
        frame
            .write_to(&mut png, ImageFormat::Png)
            .map_err(|e| io::Error::other(format!("cannot encode {}: {e}", path.display())))?;
        fs::write(&path, png.into_inner())
            .map_err(|e| context(e, format!("cannot write {}", path.display())))
    }
}

/// A framebuffer's visible layout: pixels, bits per pixel and bytes per row (`stride`,
/// which drivers may pad beyond width × bytes per pixel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FbGeometry {
    pub width: u32,
    pub height: u32,
    pub bits_per_pixel: u32,
    pub stride: u32,
}

/// Reads `fb`'s geometry from `<sysfs>/<fb>/{virtual_size,bits_per_pixel,stride}`;
/// `sysfs` is `/sys/class/graphics` except in tests. The virtual size is the visible one
/// on the usual console framebuffers; a driver set up for double buffering reports a
/// taller virtual screen, and the picture would then be scaled into both pages.
fn read_geometry(sysfs: &Path, fb: &str) -> io::Result<FbGeometry> {
    let read = |name: &str| {
        let path = sysfs.join(fb).join(name);
        let text = fs::read_to_string(&path)
            .map_err(|e| context(e, format!("cannot read {}", path.display())))?;
        Ok::<_, io::Error>((path, text.trim().to_string()))
    };
    let number = |path: &Path, s: &str| {
        s.trim().parse::<u32>().map_err(|_| {
            let msg = format!("{}: {s:?} is not a number", path.display());
            io::Error::new(io::ErrorKind::InvalidData, msg)
        })
    };
    let (path, size) = read("virtual_size")?;
    let (w, h) = size.split_once(',').ok_or_else(|| {
        let msg = format!("{}: {size:?} is not W,H", path.display());
        io::Error::new(io::ErrorKind::InvalidData, msg)
    })?;
    let (width, height) = (number(&path, w)?, number(&path, h)?);
    let (path, bpp) = read("bits_per_pixel")?;
    let bits_per_pixel = number(&path, &bpp)?;
    let (path, stride) = read("stride")?;
    let stride = number(&path, &stride)?;
    Ok(FbGeometry {
        width,
        height,
        bits_per_pixel,
        stride,
    })
}

/// Something a framebuffer can be written through: the device, or a file in tests.
trait FbFile: Write + Seek + Send {}
impl<T: Write + Seek + Send> FbFile for T {}

/// A Linux framebuffer (`/dev/fbN`) written with plain seeks and writes.
pub struct Framebuffer {
    file: Box<dyn FbFile>,
    geometry: FbGeometry,
    name: String,
    row: Vec<u8>,
}

impl Framebuffer {
    /// Opens a framebuffer device; its geometry comes from `/sys/class/graphics/fbN`,
    /// with fbN the device's name (`/dev/fb0` → fb0; symlinks are followed).
    pub fn open(dev: &Path) -> io::Result<Framebuffer> {
        Self::open_with_sysfs(dev, Path::new("/sys/class/graphics"))
    }

    fn open_with_sysfs(dev: &Path, sysfs: &Path) -> io::Result<Framebuffer> {
        let file = OpenOptions::new().write(true).open(dev).map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::NotFound => "no framebuffer: is a display attached?",
                io::ErrorKind::PermissionDenied => "is the user in the video group?",
                _ => "cannot open the framebuffer",
            };
            context(e, format!("{} ({hint})", dev.display()))
        })?;
        let real = fs::canonicalize(dev).unwrap_or_else(|_| dev.to_path_buf());
        let fb = real
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.starts_with("fb"))
            .ok_or_else(|| {
                let msg = format!(
                    "{}: not a framebuffer device name (/dev/fbN)",
                    dev.display()
                );
                io::Error::new(io::ErrorKind::InvalidInput, msg)
            })?;
        let geometry = read_geometry(sysfs, fb)?;
        Self::with_geometry(file, geometry, dev.display().to_string())
    }

    /// A framebuffer of known geometry behind any seekable writer (a file in tests).
    /// Fails when the pixel format is not one `show` can write.
    pub fn with_geometry(
        file: impl Write + Seek + Send + 'static,
        geometry: FbGeometry,
        name: impl Into<String>,
    ) -> io::Result<Framebuffer> {
        let name = name.into();
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        if !matches!(geometry.bits_per_pixel, 16 | 24 | 32) {
            return Err(invalid(format!(
                "{name}: {} bits per pixel is not supported (16, 24 or 32)",
                geometry.bits_per_pixel
            )));
        }
        let row_bytes = geometry.width as usize * geometry.bits_per_pixel as usize / 8;
        if (geometry.stride as usize) < row_bytes {
            return Err(invalid(format!(
                "{name}: stride {} is less than a row of {} pixels ({row_bytes} bytes)",
                geometry.stride, geometry.width
            )));
        }
        Ok(Framebuffer {
            file: Box::new(file),
            geometry,
            name,
            row: vec![0; row_bytes],
        })
    }

    pub fn geometry(&self) -> FbGeometry {
        self.geometry
    }
}

/// One pixel in the framebuffer's layout. These are the usual little-endian fbdev
/// formats: 16 bpp RGB565 (red in the high bits), 24 bpp B,G,R bytes, 32 bpp B,G,R,X
/// (XRGB8888; X written as 255 in case it is read as alpha).
fn encode(rgb: [u8; 3], bits_per_pixel: u32, out: &mut [u8]) {
    let [r, g, b] = rgb;
    match bits_per_pixel {
        16 => {
            let v = (u16::from(r) >> 3) << 11 | (u16::from(g) >> 2) << 5 | u16::from(b) >> 3;
            out.copy_from_slice(&v.to_le_bytes());
        }
        24 => out.copy_from_slice(&[b, g, r]),
        _ => out.copy_from_slice(&[b, g, r, 255]),
    }
}

impl Display for Framebuffer {
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Scales the frame to fit (aspect kept, nearest neighbour), centred on black.
    fn show(&mut self, _sequence: u32, frame: &RgbImage) -> io::Result<()> {
        let FbGeometry {
            width,
            height,
            bits_per_pixel,
            stride,
        } = self.geometry;
        let bytes = bits_per_pixel as usize / 8;
        let (fw, fh) = frame.dimensions();
        let scale = if fw == 0 || fh == 0 {
            0.0
        } else {
            (width as f64 / fw as f64).min(height as f64 / fh as f64)
        };
        let (sw, sh) = (
            (fw as f64 * scale).round() as u32,
            (fh as f64 * scale).round() as u32,
        );
        let (ox, oy) = ((width - sw.min(width)) / 2, (height - sh.min(height)) / 2);
        // Source column of each framebuffer column (None: border).
        let columns: Vec<Option<u32>> = (0..width)
            .map(|x| {
                let sx = x.checked_sub(ox).filter(|&sx| sx < sw)?;
                Some((((sx as f64 + 0.5) / scale) as u32).min(fw - 1))
            })
            .collect();
        let name = &self.name;
        for y in 0..height {
            let source_row = y.checked_sub(oy).filter(|&sy| sy < sh);
            let source_row = source_row.map(|sy| (((sy as f64 + 0.5) / scale) as u32).min(fh - 1));
            for (x, column) in columns.iter().enumerate() {
                let rgb = match (source_row, column) {
                    (Some(sy), Some(sx)) => frame.get_pixel(*sx, sy).0,
                    _ => [0, 0, 0],
                };
                encode(
                    rgb,
                    bits_per_pixel,
                    &mut self.row[x * bytes..(x + 1) * bytes],
                );
            }
            self.file
                .seek(SeekFrom::Start(y as u64 * stride as u64))
                .and_then(|_| self.file.write_all(&self.row))
                .map_err(|e| context(e, format!("cannot write {name}")))?;
        }
        self.file
            .flush()
            .map_err(|e| context(e, format!("cannot write {name}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Read;

    fn fb_file() -> (tempfile::NamedTempFile, File) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let file = tmp.reopen().unwrap();
        (tmp, file)
    }

    fn contents(tmp: &tempfile::NamedTempFile) -> Vec<u8> {
        let mut v = Vec::new();
        tmp.reopen().unwrap().read_to_end(&mut v).unwrap();
        v
    }

    /// A 4×2 frame: left half red, right half blue, bottom-right green.
    fn frame() -> RgbImage {
        RgbImage::from_fn(4, 2, |x, y| match (x < 2, y) {
            (true, _) => image::Rgb([255, 0, 0]),
            (false, 0) => image::Rgb([0, 0, 255]),
            (false, _) => image::Rgb([0, 255, 0]),
        })
    }

    #[test]
    fn overlay_png_dir_writes_numbered_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let mut display = PngDir::create(&dir).unwrap();
        assert_eq!(display.name(), dir.display().to_string());
        display.show(7, &frame()).unwrap();
        display.show(123456, &frame()).unwrap();
        let back = image::open(dir.join("000007.png")).unwrap().to_rgb8();
        assert_eq!(back, frame());
        assert!(dir.join("123456.png").is_file());
    }

    #[test]
    fn overlay_png_dir_errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain-file");
        fs::write(&file, b"x").unwrap();
        let bad = file.join("sub");
        let err = PngDir::create(&bad).err().unwrap().to_string();
        assert!(err.contains(&bad.display().to_string()), "{err}");

        let dir = tmp.path().join("out");
        let mut display = PngDir::create(&dir).unwrap();
        fs::create_dir(display.path(1)).unwrap(); // a folder where the file should go
        let err = display.show(1, &frame()).unwrap_err().to_string();
        assert!(err.contains("000001.png"), "{err}");
    }

    #[test]
    fn overlay_framebuffer_32bpp_letterboxed_with_stride_padding() {
        // 8×8 screen, 40-byte rows (8 bytes of padding): the 4×2 frame scales ×2 to
        // 8×4, centred with 2 black rows above and below.
        let geometry = FbGeometry {
            width: 8,
            height: 8,
            bits_per_pixel: 32,
            stride: 40,
        };
        let (tmp, file) = fb_file();
        fs::write(tmp.path(), [0xAA; 320]).unwrap(); // to see that padding stays untouched
        let mut fb = Framebuffer::with_geometry(file, geometry, "test-fb").unwrap();
        fb.show(0, &frame()).unwrap();
        let bytes = contents(&tmp);
        let px = |x: usize, y: usize| &bytes[y * 40 + x * 4..y * 40 + x * 4 + 4];
        assert_eq!(px(0, 0), [0, 0, 0, 255], "top border");
        assert_eq!(px(0, 2), [0, 0, 255, 255], "red as B,G,R,X");
        assert_eq!(px(7, 2), [255, 0, 0, 255], "blue");
        assert_eq!(px(7, 5), [0, 255, 0, 255], "green, bottom frame row");
        assert_eq!(px(3, 7), [0, 0, 0, 255], "bottom border");
        // The 8 padding bytes after each row are never written.
        assert_eq!(bytes.len(), 320);
        assert!((0..8).all(|y| bytes[y * 40 + 32..y * 40 + 40] == [0xAA; 8]));
    }

    #[test]
    fn overlay_framebuffer_16bpp_pillarboxed() {
        // 6×2 screen: the 4×2 frame keeps scale 1, centred with one black column each side.
        let geometry = FbGeometry {
            width: 6,
            height: 2,
            bits_per_pixel: 16,
            stride: 12,
        };
        let (tmp, file) = fb_file();
        let mut fb = Framebuffer::with_geometry(file, geometry, "test-fb").unwrap();
        fb.show(0, &frame()).unwrap();
        let bytes = contents(&tmp);
        let px = |x: usize, y: usize| {
            u16::from_le_bytes([bytes[y * 12 + x * 2], bytes[y * 12 + x * 2 + 1]])
        };
        assert_eq!(px(0, 0), 0);
        assert_eq!(px(1, 0), 0xF800, "red");
        assert_eq!(px(4, 0), 0x001F, "blue");
        assert_eq!(px(4, 1), 0x07E0, "green");
        assert_eq!(px(5, 1), 0);
    }

    #[test]
    fn overlay_framebuffer_24bpp_is_bgr() {
        let geometry = FbGeometry {
            width: 4,
            height: 2,
            bits_per_pixel: 24,
            stride: 12,
        };
        let (tmp, file) = fb_file();
        let mut fb = Framebuffer::with_geometry(file, geometry, "test-fb").unwrap();
        fb.show(0, &frame()).unwrap();
        let bytes = contents(&tmp);
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[0..3], [0, 0, 255], "red");
        assert_eq!(bytes[9..12], [255, 0, 0], "blue");
        assert_eq!(bytes[21..24], [0, 255, 0], "green");
    }

    #[test]
    fn overlay_framebuffer_rejects_unsupported_formats() {
        let geometry = FbGeometry {
            width: 8,
            height: 8,
            bits_per_pixel: 8,
            stride: 8,
        };
        let err = Framebuffer::with_geometry(Cursor::new(Vec::new()), geometry, "/dev/fb9")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/dev/fb9") && err.contains("8 bits per pixel"),
            "{err}"
        );
        let geometry = FbGeometry {
            width: 8,
            height: 8,
            bits_per_pixel: 32,
            stride: 16,
        };
        assert!(Framebuffer::with_geometry(Cursor::new(Vec::new()), geometry, "x").is_err());
    }

    #[test]
    fn overlay_framebuffer_geometry_from_fake_sysfs() {
        let sysfs = tempfile::tempdir().unwrap();
        let fb = sysfs.path().join("fb1");
        fs::create_dir(&fb).unwrap();
        fs::write(fb.join("virtual_size"), "800,480\n").unwrap();
        fs::write(fb.join("bits_per_pixel"), "16\n").unwrap();
        fs::write(fb.join("stride"), "1600\n").unwrap();
        let want = FbGeometry {
            width: 800,
            height: 480,
            bits_per_pixel: 16,
            stride: 1600,
        };
        assert_eq!(read_geometry(sysfs.path(), "fb1").unwrap(), want);

        // Opening a "device" named fb1 reads that geometry.
        let dev_dir = tempfile::tempdir().unwrap();
        let dev = dev_dir.path().join("fb1");
        File::create(&dev).unwrap();
        let opened = Framebuffer::open_with_sysfs(&dev, sysfs.path()).unwrap();
        assert_eq!(opened.geometry(), want);

        fs::write(fb.join("virtual_size"), "800x480\n").unwrap();
        let err = read_geometry(sysfs.path(), "fb1").unwrap_err().to_string();
        assert!(err.contains("virtual_size"), "{err}");
        let err = read_geometry(sysfs.path(), "fb2").unwrap_err().to_string();
        assert!(err.contains("fb2"), "{err}");
    }

    #[test]
    fn overlay_framebuffer_missing_device_names_it_and_hints() {
        let err = Framebuffer::open(Path::new("/nonexistent/fb7"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/nonexistent/fb7") && err.contains("display attached"),
            "{err}"
        );
    }
}
