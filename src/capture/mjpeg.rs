//! MJPEG byte streams: concatenated JPEG images, as `ffmpeg -f mjpeg -` or gstreamer's
//! `multipartmux`-free `jpegenc ! fdsink` write them.
//!
//! Frames are cut by following the JPEG segment structure (`segments`): from a start
//! marker (FF D8), over each marker segment by its length (so FF D9 inside a comment or
//! an EXIF block does not end a frame) and through entropy-coded data (where FF 00 is a
//! stuffed byte and FF D0..D7 a restart marker) to the end marker (FF D9). Junk between
//! frames is skipped. A frame that breaks off (a new start marker where a marker is due,
//! a byte that is no marker, the end of the stream, or no end within `MAX_FRAME_BYTES`)
//! is reported as one unreadable frame and reading goes on after it (at the new start
//! marker, after the broken frame's own, or past everything scanned when it grew too
//! long): it is never merged with the next, and every call makes progress.

use std::io::Read;
use std::path::Path;

use super::{decode_image, CaptureError, Frame, FrameSource};

/// A frame larger than this is not a frame: it is skipped as unreadable.
pub const MAX_FRAME_BYTES: usize = 64 << 20;

/// Where a JPEG's segment structure stands after the bytes seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A whole image: its length, end marker included.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
    /// The image breaks off at this offset (a new image may start there); `why` says how.
    Broken { at: usize, why: &'static str },
}

/// Resumable walk over one JPEG's segments; the buffer must start with FF D8 and only
/// grow between calls.
#[derive(Debug, Clone, Copy)]
pub struct Segments {
    pos: usize,
    entropy: bool,
}

impl Default for Segments {
    fn default() -> Segments {
        Segments::new()
    }
}

impl Segments {
    pub fn new() -> Segments {
        Segments {
            pos: 2,
            entropy: false,
        }
    }

    /// How far the walk has got (bytes certainly part of this image).
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        loop {
            if self.entropy {
                // Entropy-coded data runs to the next marker that is not a stuffed
                // byte (FF 00), a restart marker (FF D0..D7) or fill (FF FF).
                let Some(off) = buf
                    .get(self.pos..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                else {
                    self.pos = self.pos.max(buf.len());
                    return Scan::Incomplete;
                };
                let i = self.pos + off;
                match buf.get(i + 1) {
                    None => {
                        self.pos = i;
                        return Scan::Incomplete;
                    }
                    Some(0x00 | 0xD0..=0xD7) => {
                        self.pos = i + 2;
                        continue;
                    }
                    Some(0xFF) => {
                        self.pos = i + 1;
                        continue;
                    }
                    Some(_) => {
                        self.pos = i;
                        self.entropy = false;
                    }
                }
            }
            // A marker is due at pos.
            let Some(&b) = buf.get(self.pos) else {
                return Scan::Incomplete;
            };
            if b != 0xFF {
                return Scan::Broken {
                    at: self.pos,
                    why: "a byte that is no JPEG marker where one is due",
                };
            }
            let Some(&m) = buf.get(self.pos + 1) else {
                return Scan::Incomplete;
            };
            match m {
                0xFF => self.pos += 1, // fill byte before a marker
                0xD9 => return Scan::Complete(self.pos + 2),
                0xD8 => {
                    return Scan::Broken {
                        at: self.pos,
                        why: "truncated: a new image starts before this one's end marker",
                    }
                }
                0x01 | 0xD0..=0xD7 => self.pos += 2, // markers without a length
                0x00 => {
                    return Scan::Broken {
                        at: self.pos,
                        why: "a byte that is no JPEG marker where one is due",
                    }
                }
                _ => {
                    let (Some(&hi), Some(&lo)) = (buf.get(self.pos + 2), buf.get(self.pos + 3))
                    else {
                        return Scan::Incomplete;
                    };
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    if len < 2 {
                        return Scan::Broken {
                            at: self.pos,
                            why: "a JPEG segment with a length under 2",
                        };
                    }
                    self.pos += 2 + len;
                    // Start of scan: its header, then entropy-coded data.
                    self.entropy = m == 0xDA;
                }
            }
        }
    }
}

/// Whether `bytes` hold one whole JPEG (start marker, segments, end marker); the error
/// says what is wrong. Trailing bytes after the end marker are allowed.
pub fn check_jpeg_structure(bytes: &[u8]) -> Result<(), &'static str> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("no JPEG start marker");
    }
    match Segments::new().scan(bytes) {
        Scan::Complete(_) => Ok(()),
        Scan::Incomplete => Err("truncated: the data ends before the JPEG end marker"),
        Scan::Broken { why, .. } => Err(why),
    }
}

pub struct MjpegStream {
    name: String,
    live: bool,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// The walk over the image at the start of `buf`, if one has started.
    segments: Option<Segments>,
    eof: bool,
    frames: u64,
    max_frame: usize,
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
            segments: None,
            eof: false,
            frames: 0,
            max_frame: MAX_FRAME_BYTES,
        }
    }

    /// A smaller frame size limit than `MAX_FRAME_BYTES` (tests, small boards).
    pub fn with_max_frame(mut self, bytes: usize) -> MjpegStream {
        self.max_frame = bytes.max(4);
        self
    }

    fn io_err(&self, cause: std::io::Error) -> CaptureError {
        CaptureError::Io {
            path: self.name.clone().into(),
            cause,
        }
    }

    /// The frame that broke off: `skip` bytes of it are dropped (at least its start
    /// marker, so the same bytes are never parsed again).
    fn unreadable(&mut self, skip: usize, why: &str) -> CaptureError {
        self.frames += 1;
        let skip = skip.clamp(2, self.buf.len().max(2)).min(self.buf.len());
        self.buf.drain(..skip);
        self.segments = None;
        CaptureError::Decode {
            path: format!("{}#{}", self.name, self.frames).into(),
            msg: why.to_string(),
        }
    }

    /// The next complete JPEG in the stream, or None at its end; an unreadable frame is
    /// an error, and the next call goes on after it.
    fn next_jpeg(&mut self) -> Result<Option<Vec<u8>>, CaptureError> {
        loop {
            if self.segments.is_none() {
                // Drop anything before the next start marker.
                match find(&self.buf, &[0xFF, 0xD8], 0) {
                    Some(start) => {
                        if start > 0 {
                            tracing::debug!("{}: skipped {start} bytes between frames", self.name);
                        }
                        self.buf.drain(..start);
                        self.segments = Some(Segments::new());
                    }
                    None => {
                        // Keep a trailing 0xFF: it may start a marker split across reads.
                        let keep = usize::from(self.buf.last() == Some(&0xFF));
                        let n = self.buf.len();
                        self.buf.drain(..n - keep);
                    }
                }
            }
            if let Some(seg) = self.segments.as_mut() {
                match seg.scan(&self.buf) {
                    Scan::Complete(end) => {
                        self.segments = None;
                        return Ok(Some(self.buf.drain(..end).collect()));
                    }
                    // Where a new image starts, go on from there; else from just after
                    // this one's start marker (a corrupt segment length may have jumped
                    // over the next image's start).
                    Scan::Broken { at, why } => {
                        let new_image = self.buf[at..].starts_with(&[0xFF, 0xD8]);
                        return Err(self.unreadable(if new_image { at } else { 2 }, why));
                    }
                    Scan::Incomplete => {
                        let pos = seg.position();
                        if pos > self.max_frame || self.buf.len() > self.max_frame {
                            let why = format!(
                                "no JPEG end marker within {} bytes: skipped",
                                self.max_frame
                            );
                            let skip = pos.min(self.buf.len());
                            return Err(self.unreadable(skip, &why));
                        }
                        if self.eof {
                            let n = self.buf.len();
                            return Err(self.unreadable(
                                n,
                                "truncated: the stream ends before the JPEG end marker",
                            ));
                        }
                    }
                }
            }
            if self.eof {
                return Ok(None);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = loop {
                match self.reader.read(&mut chunk) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => break r.map_err(|e| self.io_err(e))?,
                }
            };
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
    fn a_truncated_last_frame_is_unreadable_then_the_stream_ends() {
        let mut stream = jpeg(10);
        let second = jpeg(90);
        stream.extend(&second[..second.len() / 2]);
        let mut src = MjpegStream::new("pipe", Box::new(std::io::Cursor::new(stream)), false);
        assert!(src.next_frame().unwrap().is_some());
        // Counted as one unreadable frame (it used to vanish silently), then the end.
        assert!(src.next_frame().is_err());
        assert!(src.next_frame().unwrap().is_none());
    }

    /// Every result of reading `stream` to its end: Ok(shade at (3, 3)) or Err(message).
    /// Panics after `max_calls` (a splitter that loops on the same bytes).
    fn read_all(stream: Vec<u8>, max_calls: usize) -> Vec<Result<u8, String>> {
        let mut src = MjpegStream::new("pipe", Box::new(std::io::Cursor::new(stream)), false);
        let mut out = vec![];
        for _ in 0..max_calls {
            match src.next_frame() {
                Ok(Some(f)) => out.push(Ok(f.image.get_pixel(3, 3)[0])),
                Ok(None) => return out,
                Err(e) => out.push(Err(e.to_string())),
            }
        }
        panic!("no end after {max_calls} calls: {out:?}");
    }

    fn shade_near(r: &Result<u8, String>, want: u8) -> bool {
        matches!(r, Ok(s) if (i32::from(*s) - i32::from(want)).abs() < 12)
    }

    /// A JPEG with one more segment (marker, payload) right after its start marker.
    fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() + 2) as u16;
        let mut out = jpeg[..2].to_vec();
        out.extend([0xFF, marker]);
        out.extend(len.to_be_bytes());
        out.extend(payload);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn an_end_marker_inside_a_comment_or_exif_segment_does_not_cut_a_frame() {
        let mut stream = with_segment(&jpeg(10), 0xFE, b"a\xFF\xD9b");
        stream.extend(with_segment(&jpeg(120), 0xE1, b"Exif\0\0\xFF\xD9\xFF\xD8"));
        stream.extend(jpeg(250));
        let got = read_all(stream, 20);
        assert_eq!(got.len(), 3, "{got:?}");
        for (r, want) in got.iter().zip([10, 120, 250]) {
            assert!(shade_near(r, want), "{got:?}");
        }
    }

    #[test]
    fn a_truncated_frame_is_counted_and_never_merged_with_the_next() {
        let first = jpeg(10);
        let mut stream = first[..first.len() / 2].to_vec();
        stream.extend(jpeg(120));
        stream.extend(b"junk \xFF\x00 between \xFF frames");
        stream.extend(jpeg(250));
        let got = read_all(stream, 20);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            matches!(&got[0], Err(e) if e.contains("pipe#1") && e.contains("JPEG")),
            "{got:?}"
        );
        assert!(
            shade_near(&got[1], 120) && shade_near(&got[2], 250),
            "{got:?}"
        );
    }

    #[test]
    fn a_start_marker_without_an_end_within_the_limit_is_skipped_and_reading_recovers() {
        // A start of scan, then more entropy-coded bytes than a frame may hold.
        let mut stream = vec![0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02];
        stream.resize(MAX_FRAME_BYTES + 4096, 0x11);
        stream.extend(jpeg(120));
        let got = read_all(stream, 8);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            matches!(&got[0], Err(e) if e.contains("end marker")),
            "{got:?}"
        );
        assert!(shade_near(&got[1], 120), "{got:?}");
    }
}
