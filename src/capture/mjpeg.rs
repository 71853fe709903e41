//! MJPEG byte streams: concatenated JPEG images, as `ffmpeg -f mjpeg -` or gstreamer's
//! `multipartmux`-free `jpegenc ! fdsink` write them. Frames are cut at JPEG start
//! (FF D8) and end (FF D9) markers.

use std::io::Read;
use std::path::Path;

use super::{decode_image, CaptureError, Frame, FrameSource};

/// A frame larger than this is not a frame: the stream is not MJPEG.
const MAX_FRAME_BYTES: usize = 64 << 20;

pub struct MjpegStream {
    name: String,
    live: bool,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Where to continue searching for the end marker.
    scan_from: usize,
    eof: bool,
    frames: u64,
}

impl MjpegStream {
    /// `live`: frames arrive in real time (a pipe from a camera), so the pipeline drops
    /// old ones rather than making the writer wait.
    pub fn new(name: impl Into<String>, reader: Box<dyn Read + Send>, live: bool) -> MjpegStream {
        MjpegStream {
            name: name.into(),
            live,
            reader,
            buf: Vec::new(),
            scan_from: 0,
            eof: false,
            frames: 0,
        }
    }

    fn io_err(&self, cause: std::io::Error) -> CaptureError {
        CaptureError::Io {
            path: self.name.clone().into(),
            cause,
        }
    }

    /// The next complete JPEG in the stream, or None at its end.
    fn next_jpeg(&mut self) -> Result<Option<Vec<u8>>, CaptureError> {
        loop {
            // Drop anything before the first start marker.
            if let Some(start) = find(&self.buf, &[0xFF, 0xD8], 0) {
                if start > 0 {
                    self.buf.drain(..start);
                    self.scan_from = 0;
                }
                if let Some(end) = find(&self.buf, &[0xFF, 0xD9], self.scan_from.max(2)) {
                    let jpeg: Vec<u8> = self.buf.drain(..end + 2).collect();
                    self.scan_from = 0;
                    return Ok(Some(jpeg));
                }
                self.scan_from = self.buf.len().saturating_sub(1);
            } else {
                // Keep a trailing 0xFF: it may start a marker split across reads.
                let keep = usize::from(self.buf.last() == Some(&0xFF));
                let n = self.buf.len();
                self.buf.drain(..n - keep);
                self.scan_from = 0;
            }
            if self.eof {
                return Ok(None);
            }
            if self.buf.len() > MAX_FRAME_BYTES {
                return Err(self.io_err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "no JPEG end marker within 64 MiB: not an MJPEG stream",
                )));
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.reader.read(&mut chunk).map_err(|e| self.io_err(e))?;
            if n == 0 {
                self.eof = true;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

impl FrameSource for MjpegStream {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        let Some(jpeg) = self.next_jpeg()? else {
            return Ok(None);
        };
        self.frames += 1;
        let origin = format!("{}#{}", self.name, self.frames);
        let image = decode_image(&jpeg, Path::new(&origin))?;
        Ok(Some(Frame::now(origin, image)))
    }

    fn describe(&self) -> String {
        format!("MJPEG stream {}", self.name)
    }

    fn is_live(&self) -> bool {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(shade: u8) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(16, 8, image::Rgb([shade, 100, 200]));
        let mut out = std::io::Cursor::new(vec![]);
        img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    /// A reader that hands out one byte at a time: markers split across reads.
    struct Trickle(std::io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn splits_concatenated_jpegs_even_byte_by_byte() {
        let mut stream = b"junk".to_vec();
        for s in [10, 120, 250] {
            stream.extend(jpeg(s));
        }
        let mut src = MjpegStream::new(
            "pipe",
            Box::new(Trickle(std::io::Cursor::new(stream))),
            false,
        );
        let mut shades = vec![];
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!(f.image.dimensions(), (16, 8));
            shades.push(f.image.get_pixel(3, 3)[0]);
        }
        assert_eq!(shades.len(), 3);
        assert!(shades[0] < shades[1] && shades[1] < shades[2]);
    }

    #[test]
    fn a_truncated_last_frame_ends_the_stream() {
        let mut stream = jpeg(10);
        let second = jpeg(90);
        stream.extend(&second[..second.len() / 2]);
        let mut src = MjpegStream::new("pipe", Box::new(std::io::Cursor::new(stream)), false);
        assert!(src.next_frame().unwrap().is_some());
        assert!(src.next_frame().unwrap().is_none());
    }
}
