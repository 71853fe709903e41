//! The wire packet: one fixed-size, versioned, little-endian record per frame, documented
//! byte by byte in docs/PROTOCOL.md. This module is the only place that knows the layout.

/// "IHMR" in ASCII.
pub const MAGIC: [u8; 4] = *b"IHMR";
pub const VERSION: u16 = 1;
pub const JOINTS: usize = 24;
pub const BETAS: usize = 10;
/// Bytes of one encoded packet, CRC included.
pub const SIZE: usize = 676;
const CRC_AT: usize = SIZE - 4;

/// Bits of `Packet::flags`.
pub mod flags {
    /// `joints` holds 24 joints in metres, camera frame (needs a body model).
    pub const JOINTS: u16 = 1 << 0;
    /// `ambiguity` holds the view-consistency score.
    pub const AMBIGUITY: u16 = 1 << 1;
    /// `cam` is a full-frame translation (metres) rather than the crop's weak
    /// perspective (s, tx, ty).
    pub const CAM_FULL_FRAME: u16 = 1 << 2;
    /// The model has random weights: the numbers are not a human pose.
    pub const RANDOM_WEIGHTS: u16 = 1 << 3;
    /// The person box is the default (centre) box, not a tracked or given one.
    pub const DEFAULT_BOX: u16 = 1 << 4;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub flags: u16,
    pub sequence: u32,
    /// Capture time, microseconds since the UNIX epoch.
    pub capture_us: u64,
    /// Capture → send, microseconds.
    pub latency_us: u32,
    /// Person box x, y, w, h in pixels of the captured frame.
    pub person_box: [f32; 4],
    /// θ: axis-angle per joint, radians.
    pub theta: [[f32; 3]; JOINTS],
    pub betas: [f32; BETAS],
    /// (s, tx, ty), or a translation in metres when `CAM_FULL_FRAME`.
    pub cam: [f32; 3],
    /// Zero unless `JOINTS`.
    pub joints: [[f32; 3]; JOINTS],
    /// Zero unless `AMBIGUITY`.
    pub ambiguity: f32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    #[error("packet is {0} bytes, expected {SIZE}")]
    Length(usize),
    #[error("bad magic {0:02x?}")]
    Magic([u8; 4]),
    #[error("unsupported version {0} (this build reads {VERSION})")]
    Version(u16),
    #[error("CRC mismatch: packet says {stated:08x}, bytes give {computed:08x}")]
    Crc { stated: u32, computed: u32 },
}

impl Default for Packet {
    fn default() -> Self {
        Packet {
            flags: 0,
            sequence: 0,
            capture_us: 0,
            latency_us: 0,
            person_box: [0.0; 4],
            theta: [[0.0; 3]; JOINTS],
            betas: [0.0; BETAS],
            cam: [0.0; 3],
            joints: [[0.0; 3]; JOINTS],
            ambiguity: 0.0,
        }
    }
}

struct Writer<'a> {
    buf: &'a mut [u8; SIZE],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
    fn f32s<'b>(&mut self, values: impl IntoIterator<Item = &'b f32>) {
        for v in values {
            self.put(&v.to_le_bytes());
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
    fn f32s<const N: usize>(&mut self) -> [f32; N] {
        std::array::from_fn(|_| self.f32())
    }
}

impl Packet {
    pub fn encode(&self) -> [u8; SIZE] {
        let mut buf = [0u8; SIZE];
        let mut w = Writer {
            buf: &mut buf,
            at: 0,
        };
        w.put(&MAGIC);
        w.put(&VERSION.to_le_bytes());
        w.put(&self.flags.to_le_bytes());
        w.put(&self.sequence.to_le_bytes());
        w.put(&self.capture_us.to_le_bytes());
        w.put(&self.latency_us.to_le_bytes());
        w.f32s(&self.person_box);
        w.f32s(self.theta.iter().flatten());
        w.f32s(&self.betas);
        w.f32s(&self.cam);
        w.f32s(self.joints.iter().flatten());
        w.f32s([&self.ambiguity]);
        debug_assert_eq!(w.at, CRC_AT);
        let crc = crc32fast::hash(&buf[..CRC_AT]);
        buf[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        buf
    }

    pub fn decode(bytes: &[u8]) -> Result<Packet, PacketError> {
        if bytes.len() != SIZE {
            return Err(PacketError::Length(bytes.len()));
        }
        let mut r = Reader { buf: bytes, at: 0 };
        let magic: [u8; 4] = r.take();
        if magic != MAGIC {
            return Err(PacketError::Magic(magic));
        }
        let version = u16::from_le_bytes(r.take());
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        let stated = u32::from_le_bytes(bytes[CRC_AT..].try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&bytes[..CRC_AT]);
        if stated != computed {
            return Err(PacketError::Crc { stated, computed });
        }
        let flags = u16::from_le_bytes(r.take());
        let sequence = u32::from_le_bytes(r.take());
        let capture_us = u64::from_le_bytes(r.take());
        let latency_us = u32::from_le_bytes(r.take());
        let person_box = r.f32s();
        let theta = std::array::from_fn(|_| r.f32s());
        let betas = r.f32s();
        let cam = r.f32s();
        let joints = std::array::from_fn(|_| r.f32s());
        let ambiguity = r.f32();
        Ok(Packet {
            flags,
            sequence,
            capture_us,
            latency_us,
            person_box,
            theta,
            betas,
            cam,
            joints,
            ambiguity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet {
        Packet {
            flags: flags::RANDOM_WEIGHTS,
            sequence: 42,
            capture_us: 1_790_000_000_123_456,
            latency_us: 31_250,
            person_box: [10.0, 20.0, 300.0, 310.5],
            theta: std::array::from_fn(|j| [j as f32 * 0.1, -0.5, 3.0]),
            betas: std::array::from_fn(|k| k as f32 - 4.5),
            cam: [0.9, 0.01, -0.02],
            ..Packet::default()
        }
    }

    #[test]
    fn round_trips() {
        let p = sample();
        let bytes = p.encode();
        assert_eq!(&bytes[..4], b"IHMR");
        assert_eq!(Packet::decode(&bytes), Ok(p));
    }

    #[test]
    fn layout_offsets_match_protocol_doc() {
        let bytes = sample().encode();
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 42);
        assert_eq!(f32::from_le_bytes(bytes[24..28].try_into().unwrap()), 10.0);
        // θ of joint 1, x, at 40 + 12
        assert_eq!(f32::from_le_bytes(bytes[52..56].try_into().unwrap()), 0.1);
        assert_eq!(
            f32::from_le_bytes(bytes[328..332].try_into().unwrap()),
            -4.5
        );
        assert_eq!(f32::from_le_bytes(bytes[368..372].try_into().unwrap()), 0.9);
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let bytes = sample().encode();
        for i in 0..SIZE * 8 {
            let mut b = bytes;
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                Packet::decode(&b).is_err(),
                "flip of bit {i} went unnoticed"
            );
        }
    }

    #[test]
    fn truncation_is_caught() {
        let bytes = sample().encode();
        assert_eq!(
            Packet::decode(&bytes[..SIZE - 1]),
            Err(PacketError::Length(SIZE - 1))
        );
    }
}
