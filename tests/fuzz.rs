//! Property tests ("fuzzing" without a fuzzer's toolchain) for the parsers that read
//! what a stranger sends: the MJPEG splitter, the bundle manifest, the body-model reader
//! and the COBS deframer. Each runs random and mutated inputs for a bounded time
//! (IMPHMR_FUZZ_SECS seconds per target, 1 by default; `.ci/run` sets more) from a seed
//! printed on failure (IMPHMR_FUZZ_SEED replays one). Crashes found become the
//! regression tests at the end of this file.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use imphmr::body::smpl::BodyModel;
use imphmr::capture::{FrameSource, MjpegStream};
use imphmr::model::Manifest;
use imphmr::output::framing::{frame, Deframer};
use imphmr::output::packet::{Packet, SIZE};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Up to `max` random bytes.
    fn some_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Run `case` on fresh seeds until the time budget is spent; report the failing seed.
fn for_a_while(name: &str, mut case: impl FnMut(&mut Rng)) {
    let secs: f64 = std::env::var("IMPHMR_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    if let Some(seed) = std::env::var("IMPHMR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        case(&mut Rng(seed));
        return;
    }
    let started = Instant::now();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut cases = 0u64;
    while started.elapsed() < Duration::from_secs_f64(secs) || cases < 20 {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15) | 1;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            case(&mut Rng(seed));
        }));
        if let Err(e) = result {
            panic!("{name}: failed with IMPHMR_FUZZ_SEED={seed}: {e:?}");
        }
        cases += 1;
    }
    eprintln!(
        "{name}: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn jpeg(rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (1 + rng.below(24) as u32, 1 + rng.below(24) as u32);
    let shade = rng.next() as u8;
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([shade, 7, 200]));
    let mut out = std::io::Cursor::new(vec![]);
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Hands out the stream in random-sized pieces.
struct Chunks {
    data: Vec<u8>,
    at: usize,
    rng: Rng,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (1 + self.rng.below(300))
            .min(buf.len())
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Read a stream to its end: (frames decoded, unreadable frames).
fn split(stream: Vec<u8>, rng: &mut Rng) -> (usize, usize) {
    let calls_allowed = stream.len() / 2 + 8;
    let reader = Chunks {
        data: stream,
        at: 0,
        rng: Rng(rng.next() | 1),
    };
    let mut src = MjpegStream::new("fuzz", Box::new(reader), false);
    let (mut good, mut bad) = (0, 0);
    for _ in 0..calls_allowed {
        match src.next_frame() {
            Ok(Some(_)) => good += 1,
            Ok(None) => return (good, bad),
            Err(_) => bad += 1,
        }
    }
    panic!("the splitter did not end within {calls_allowed} calls");
}

#[test]
fn mjpeg_splitter_recovers_every_whole_frame_and_always_ends() {
    for_a_while("mjpeg", |rng| {
        // Whole frames with junk between them (no 0xFF in the junk): all come out.
        let n = 1 + rng.below(4);
        let mut stream = vec![];
        for _ in 0..n {
            stream.extend(rng.some_bytes(20).iter().map(|b| b & 0x7F));
            stream.extend(jpeg(rng));
        }
        assert_eq!(split(stream.clone(), rng), (n, 0));
        // Then damage it: cut, flip, insert and duplicate bytes. Anything may come out,
        // but the splitter ends, never panics, never loops.
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(stream.len());
            match rng.below(4) {
                0 => stream.truncate(at),
                1 => {
                    let bit = 1 << rng.below(8);
                    stream[at] ^= bit;
                }
                2 => {
                    let bytes = if rng.chance(2) {
                        vec![0xFF, [0xD8, 0xD9, 0xDA, 0xFE, 0x00][rng.below(5)]]
                    } else {
                        rng.some_bytes(40)
                    };
                    stream.splice(at..at, bytes);
                }
                _ => {
                    let end = (at + rng.below(200)).min(stream.len());
                    let piece = stream[at..end].to_vec();
                    stream.splice(at..at, piece);
                }
            }
            if stream.is_empty() {
                break;
            }
        }
        split(stream, rng);
        // Pure noise.
        let noise = rng.some_bytes(4000);
        split(noise, rng);
    });
}

#[test]
fn manifest_parser_never_panics_and_what_it_accepts_is_bounded() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/small/imphmr.toml"),
    )
    .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let values = [
        "0",
        "-1",
        "1e308",
        "inf",
        "-inf",
        "nan",
        "18446744073709551615",
        "4294967296",
        "99999999999",
        "\"x\"",
        "[]",
        "[1, 2]",
        "[nan, 1, 1]",
        "true",
        "{}",
        "1.5",
    ];
    for_a_while("manifest", |rng| {
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(edited.len());
            match rng.below(4) {
                0 => {
                    if let Some((key, _)) = edited[i].clone().split_once('=') {
                        edited[i] = format!("{key}= {}", values[rng.below(values.len())]);
                    }
                }
                1 => {
                    edited.remove(i);
                }
                2 => {
                    let dup = edited[i].clone();
                    edited.insert(i, dup);
                }
                _ => {
                    let mut b = edited[i].clone().into_bytes();
                    if !b.is_empty() {
                        let at = rng.below(b.len());
                        b[at] = rng.next() as u8;
                    }
                    edited[i] = String::from_utf8_lossy(&b).into_owned();
                }
            }
        }
        let text = edited.join("\n");
        if let Ok(m) = Manifest::from_toml(&text, Path::new("fuzz.toml")) {
            assert!(m.memory_estimate() <= imphmr::model::MAX_MEMORY_BYTES);
            assert!(m
                .input
                .mean
                .iter()
                .chain(&m.input.std)
                .all(|v| v.is_finite()));
            for v in [m.field.near, m.field.far, m.field.radius, m.field.fov_deg] {
                assert!(v.is_finite());
            }
        }
    });
}

/// A small, valid body model: `v` vertices, `j` joints in a chain, `b` shape parameters.
fn body_model_bytes(v: u32, j: u32, b: u32, rng: &mut Rng) -> Vec<u8> {
    let p = 9 * (j - 1);
    let mut out = b"IMPHMRB1".to_vec();
    for n in [v, j, b, p] {
        out.extend(n.to_le_bytes());
    }
    for i in 0..j as i32 {
        out.extend((i - 1).to_le_bytes());
    }
    let floats = (v * 3 + v * 3 * b + p * v * 3 + j * v + v * j) as usize;
    for _ in 0..floats {
        out.extend(((rng.below(2000) as f32 - 1000.0) / 1000.0).to_le_bytes());
    }
    out
}

#[test]
fn body_model_reader_never_panics_on_damaged_files() {
    for_a_while("body model", |rng| {
        let (v, j, b) = (
            1 + rng.below(8) as u32,
            1 + rng.below(4) as u32,
            rng.below(3) as u32,
        );
        let good = body_model_bytes(v, j, b, rng);
        assert!(BodyModel::parse(&good).is_ok());
        let mut bad = good.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 => bad.truncate(rng.below(bad.len() + 1)),
                1 if !bad.is_empty() => {
                    let at = rng.below(bad.len());
                    bad[at] = rng.next() as u8;
                }
                2 => {
                    // A count or a float replaced by an extreme.
                    let at = 4 * rng.below(bad.len() / 4 + 1);
                    let word = [
                        u32::MAX,
                        0,
                        1 << 20,
                        f32::NAN.to_bits(),
                        f32::INFINITY.to_bits(),
                    ][rng.below(5)];
                    if at + 4 <= bad.len() {
                        bad[at..at + 4].copy_from_slice(&word.to_le_bytes());
                    }
                }
                _ => bad.extend(rng.some_bytes(16)),
            }
        }
        if let Ok(m) = BodyModel::parse(&bad) {
            // What it accepts it can use: joints from zero pose and shape.
            let rot = vec![nalgebra::Matrix3::identity(); m.joints];
            // (Finite but huge values may overflow to infinity: the pipeline refuses
            // such a result, output::check_finite.)
            m.joints(&[0.0; 10], &rot).unwrap();
        }
        let _ = BodyModel::parse(&rng.some_bytes(200));
    });
}

fn packet(seq: u32) -> Packet {
    Packet {
        flags: 0,
        sequence: seq,
        capture_us: 1,
        latency_us: 2,
        person_box: [0.0; 4],
        theta: [[0.5; 3]; 24],
        betas: [0.25; 10],
        cam: [0.9, 0.0, 0.0],
        joints: [[0.0; 3]; 24],
        ambiguity: 0.0,
    }
}

#[test]
fn cobs_deframer_keeps_every_intact_frame_among_noise() {
    for_a_while("cobs", |rng| {
        let mut stream = vec![];
        let mut sent = vec![];
        for seq in 0..1 + rng.below(6) as u32 {
            if rng.chance(2) {
                // Noise, then a delimiter so the next frame starts clean.
                stream.extend(rng.some_bytes(900));
                stream.push(0);
            }
            let mut f = frame(&packet(seq).encode());
            if rng.chance(4) {
                // A damaged frame: it must be rejected, never decoded as another.
                let at = rng.below(f.len() - 1);
                f[at] = f[at].wrapping_add(1 + rng.below(254) as u8);
                if f[at] == 0 {
                    f[at] = 1;
                }
            } else {
                sent.push(seq);
            }
            stream.extend(f);
        }
        let mut d = Deframer::default();
        let mut got = vec![];
        let mut at = 0;
        while at < stream.len() {
            let n = (1 + rng.below(700)).min(stream.len() - at);
            got.extend(d.push(&stream[at..at + n]).into_iter().map(|p| p.sequence));
            at += n;
        }
        for seq in &sent {
            assert!(got.contains(seq), "frame {seq} lost: {got:?}");
        }
        let _ = SIZE;
    });
}
