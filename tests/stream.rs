//! `imphmr run` end to end: UDP on loopback, serial over a real pseudo-terminal pair, and
//! `tools/receive.py` against packets from the Rust encoder.

use std::io::Read;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use imphmr::output::framing::{frame, Deframer};
use imphmr::output::packet::{flags, Packet, SIZE};
use serde_json::Value;
use serialport::SerialPort;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn imphmr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imphmr"));
    c.args(["--threads", "1"]);
    c
}

/// `imphmr run` of the bundled model on the sample images.
fn run_on_samples() -> Command {
    let mut c = imphmr();
    c.args([
        "run",
        "--model",
        "models/small",
        "--source",
        "models/samples",
    ]);
    c
}

/// The sample images in the order a folder source reads them.
fn samples() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("models/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

fn infer_lines(files: &[String]) -> Vec<Value> {
    infer_lines_with(&[], files)
}

fn infer_lines_with(extra: &[&str], files: &[String]) -> Vec<Value> {
    let o = imphmr()
        .args(["infer", "--model", "models/small"])
        .args(extra)
        .args(files)
        .output()
        .unwrap();
    json_lines(&o)
}

/// The JSON lines a successful run printed.
fn json_lines(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    let mut out = vec![];
    match v {
        Value::Array(a) => a.iter().for_each(|x| out.extend(f32s(x))),
        Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
        _ => panic!("not numbers: {v}"),
    }
    out
}

fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-6, "{what}: {x} vs {y}");
    }
}

/// The packet carries what `imphmr infer` prints for the same frame.
fn assert_packet_matches(p: &Packet, line: &Value) {
    assert_close(&p.theta.concat(), &f32s(&line["theta"]), "theta");
    assert_close(&p.betas, &f32s(&line["betas"]), "betas");
    assert_close(&p.cam, &f32s(&line["cam"]), "cam");
    assert_close(&p.person_box, &f32s(&line["box"]), "box");
}

fn finish(child: std::process::Child) -> Output {
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "imphmr run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A UDP socket on loopback for packets, and its address for `--udp`.
fn loopback_receiver() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    (socket, addr)
}

#[test]
fn udp_packets_equal_infer_and_are_gap_free() {
    let (socket, addr) = loopback_receiver();
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("out.jsonl");
    let child = imphmr()
        .args([
            "run",
            "--model",
            "models/small",
            "--source",
            "models/samples",
            "--frames",
            "3",
        ])
        .args([
            "--udp",
            &addr,
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--stats-every",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut packets = vec![];
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        let n = socket
            .recv(&mut buf)
            .expect("a datagram within the timeout");
        assert_eq!(n, SIZE, "one packet per datagram");
        packets.push(Packet::decode(&buf[..n]).unwrap());
    }
    let out = finish(child);
    let seqs: Vec<u32> = packets.iter().map(|p| p.sequence).collect();
    assert_eq!(seqs, vec![0, 1, 2], "gap-free when nothing was dropped");
    for p in &packets {
        assert_ne!(
            p.flags & flags::RANDOM_WEIGHTS,
            0,
            "random weights are flagged"
        );
        assert_ne!(p.flags & flags::DEFAULT_BOX, 0);
        assert!(p.latency_us > 0 && p.capture_us > 1_600_000_000_000_000);
    }
    let expected = infer_lines(&samples()[..3]);
    for (p, line) in packets.iter().zip(&expected) {
        assert_packet_matches(p, line);
    }
    // The JSON lines carry the same frames with their sequence numbers.
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["sequence"], 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("processed 3") && stderr.contains("dropped 0"),
        "{stderr}"
    );
    for stage in ["encoder", "field", "capture→out", "p99"] {
        assert!(stderr.contains(stage), "summary lacks {stage}: {stderr}");
    }
}

/// With a body model, a focal length and views the packet carries joints (flag bit 0),
/// the full-frame translation as its cam (flag bit 2) and the ambiguity score (flag
/// bit 1): the numbers `infer` prints.
#[test]
fn udp_packets_carry_joints_translation_and_ambiguity() {
    let (socket, addr) = loopback_receiver();
    let body = root().join("models/body/synthetic.body");
    let body_args = [
        "--body-model",
        body.to_str().unwrap(),
        "--focal",
        "600",
        "--views",
        "0,120,240",
    ];
    let child = run_on_samples()
        .args(["--frames", "2", "--udp", &addr, "--stats-every", "0"])
        .args(body_args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 2048];
    let packets: Vec<Packet> = (0..2)
        .map(|_| {
            let n = socket.recv(&mut buf).expect("a datagram");
            Packet::decode(&buf[..n]).unwrap()
        })
        .collect();
    finish(child);
    let expected = infer_lines_with(&body_args, &samples()[..2]);
    for (p, line) in packets.iter().zip(&expected) {
        assert_eq!(p.flags & flags::JOINTS, flags::JOINTS);
        assert_eq!(p.flags & flags::CAM_FULL_FRAME, flags::CAM_FULL_FRAME);
        assert_eq!(line["camera"], "full_frame");
        assert_close(&p.cam, &f32s(&line["cam_t"]), "cam = cam_t");
        assert_close(&p.joints.concat(), &f32s(&line["joints"]), "joints");
        assert_close(&p.theta.concat(), &f32s(&line["theta"]), "theta");
        assert!(p.joints.iter().flatten().any(|&c| c != 0.0));
        assert_eq!(p.flags & flags::AMBIGUITY, flags::AMBIGUITY);
        assert_close(&[p.ambiguity], &f32s(&line["ambiguity"]), "ambiguity");
        assert!(p.ambiguity > 0.0);
    }
}

#[test]
fn serial_over_a_pty_pair_at_115200_and_921600() {
    let files = samples();
    let expected = infer_lines(&files[..2]);
    for baud in ["115200", "921600"] {
        let (mut master, slave) = serialport::TTYPort::pair().expect("pseudo-terminal pair");
        let name = slave.name().expect("slave has a name");
        master.set_timeout(Duration::from_millis(200)).unwrap();
        let child = imphmr()
            .args([
                "run",
                "--model",
                "models/small",
                "--source",
                "models/samples",
                "--frames",
                "2",
            ])
            .args(["--serial", &name, "--baud", baud, "--stats-every", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut d = Deframer::default();
        let mut got = vec![];
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut buf = [0u8; 4096];
        while got.len() < 2 && Instant::now() < deadline {
            match master.read(&mut buf) {
                Ok(n) => got.extend(d.push(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("reading the pty at {baud}: {e}"),
            }
        }
        finish(child);
        assert_eq!(got.len(), 2, "two packets at {baud} baud");
        assert_eq!(d.stats.bad_cobs + d.stats.bad_crc + d.stats.bad_length, 0);
        for (p, line) in got.iter().zip(&expected) {
            assert_packet_matches(p, line);
        }
        drop(slave);
    }
}

fn sample_packet(seq: u32) -> Packet {
    Packet {
        flags: flags::RANDOM_WEIGHTS,
        sequence: seq,
        capture_us: 1_790_000_000_000_000 + seq as u64,
        latency_us: 12_345,
        person_box: [1.0, 2.0, 300.0, 400.0],
        theta: std::array::from_fn(|j| [j as f32 * 0.01, -0.25, 3.1]),
        betas: std::array::from_fn(|k| k as f32 * 0.5 - 2.0),
        cam: [0.9, 0.0, -0.05],
        ..Packet::default()
    }
}

fn receive_py(file: &std::path::Path, framing: &str) -> (Vec<Value>, Value) {
    let o = Command::new("python3")
        .arg(root().join("tools/receive.py"))
        .args(["--file", file.to_str().unwrap(), "--framing", framing])
        .output()
        .expect("python3 runs tools/receive.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let counts = String::from_utf8_lossy(&o.stderr)
        .lines()
        .last()
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    (lines, counts)
}

fn assert_py_matches(line: &Value, p: &Packet) {
    assert_eq!(line["sequence"], p.sequence);
    assert_eq!(line["capture_us"], p.capture_us);
    assert_eq!(line["latency_us"], p.latency_us);
    assert_eq!(f32s(&line["theta"]), p.theta.concat());
    assert_eq!(f32s(&line["betas"]), p.betas.to_vec());
    assert_eq!(f32s(&line["cam"]), p.cam.to_vec());
    assert_eq!(line["flags"], serde_json::json!(["random_weights"]));
}

#[test]
fn receive_py_decodes_rust_udp_packets_and_counts_rejects() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("udp.bin");
    let good: Vec<Packet> = [0, 1, 3].map(sample_packet).to_vec();
    let mut rec = vec![];
    let mut datagram = |bytes: &[u8]| {
        rec.extend((bytes.len() as u32).to_le_bytes());
        rec.extend(bytes);
    };
    datagram(&good[0].encode());
    let mut flipped = sample_packet(9).encode();
    flipped[200] ^= 0x04;
    datagram(&flipped);
    datagram(&good[1].encode());
    datagram(&sample_packet(9).encode()[..SIZE - 10]);
    datagram(&good[2].encode());
    std::fs::write(&path, rec).unwrap();
    let (lines, counts) = receive_py(&path, "udp");
    assert_eq!(lines.len(), 3);
    for (l, p) in lines.iter().zip(&good) {
        assert_py_matches(l, p);
    }
    let c = &counts["counts"];
    assert_eq!(c["packets"], 3);
    assert_eq!(c["bad_crc"], 1);
    assert_eq!(c["bad_length"], 1);
    assert_eq!(c["gaps"], 1, "sequence 1 → 3 is a gap");
    assert_eq!(c["dropped_frames"], 1);
}

#[test]
fn receive_py_decodes_rust_serial_frames_and_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("serial.bin");
    let mut stream = b"\x17\x42 noise before the first delimiter".to_vec();
    stream.push(0);
    stream.extend(frame(&sample_packet(0).encode()));
    let mut bad = frame(&sample_packet(1).encode());
    bad[50] ^= 0x20;
    stream.extend(bad);
    stream.extend(frame(&sample_packet(2).encode()));
    std::fs::write(&path, stream).unwrap();
    let (lines, counts) = receive_py(&path, "serial");
    assert_eq!(lines.len(), 2);
    assert_py_matches(&lines[0], &sample_packet(0));
    assert_py_matches(&lines[1], &sample_packet(2));
    let c = &counts["counts"];
    let rejects: u64 = ["bad_cobs", "bad_crc", "bad_length", "bad_magic"]
        .iter()
        .map(|k| c[k].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(rejects, 2, "the noise and the corrupted frame: {c}");
}

#[test]
fn sigterm_stops_cleanly_with_a_summary() {
    let (socket, addr) = loopback_receiver();
    let child = imphmr()
        .args([
            "run",
            "--model",
            "models/small",
            "--source",
            "models/samples",
            "--loop",
        ])
        .args(["--udp", &addr, "--stats-every", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 2048];
    for _ in 0..2 {
        socket
            .recv(&mut buf)
            .expect("packets flow before the signal");
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "clean exit on SIGTERM: {:?}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("frames: captured") && stderr.contains("p50"),
        "{stderr}"
    );
    // Everything processed was sent: nothing is lost at shutdown.
    let num = |key: &str| -> u64 {
        let at = stderr.find(key).unwrap() + key.len();
        stderr[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(num("processed"), num("sent"), "{stderr}");
}

#[test]
fn track_moves_the_box_after_the_first_frame() {
    let o = imphmr()
        .args([
            "run",
            "--model",
            "models/small",
            "--source",
            "models/samples/astronaut.png",
            "--loop",
        ])
        .args([
            "--frames",
            "3",
            "--track",
            "--jsonl",
            "-",
            "--stats-every",
            "0",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let boxes: Vec<Vec<f32>> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| f32s(&serde_json::from_str::<Value>(l).unwrap()["box"]))
        .collect();
    assert_eq!(boxes.len(), 3);
    assert_eq!(
        boxes[0],
        vec![0.0, 0.0, 512.0, 512.0],
        "starts at the centre square"
    );
    assert_ne!(boxes[1], boxes[0], "then follows the result");
    for b in &boxes {
        assert!(
            b[0] >= 0.0 && b[1] >= 0.0 && b[0] + b[2] <= 512.0 && b[1] + b[3] <= 512.0,
            "{b:?}"
        );
    }
}

fn mjpeg_of_samples() -> Vec<u8> {
    let mut out = vec![];
    for f in &samples()[..3] {
        let img = image::open(f).unwrap().to_rgb8();
        let mut jpg = std::io::Cursor::new(vec![]);
        img.write_to(&mut jpg, image::ImageFormat::Jpeg).unwrap();
        out.extend(jpg.into_inner());
    }
    out
}

#[test]
fn mjpeg_file_and_stdin_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("clip.mjpeg");
    std::fs::write(&file, mjpeg_of_samples()).unwrap();
    // A file is read at inference's pace: every frame is processed.
    let o = imphmr()
        .args([
            "run",
            "--model",
            "models/small",
            "--source",
            file.to_str().unwrap(),
            "--stats-every",
            "0",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["image_size"], serde_json::json!([640, 480]));
    // stdin is live: frames may be dropped (oldest first), but all are captured and
    // what comes out is in order.
    let mut child = imphmr()
        .args([
            "run",
            "--model",
            "models/small",
            "--source",
            "-",
            "--stats-every",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&mjpeg_of_samples())
        .unwrap();
    let o = finish(child);
    let seqs: Vec<u64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["sequence"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        !seqs.is_empty() && seqs.windows(2).all(|w| w[0] < w[1]),
        "{seqs:?}"
    );
    assert!(
        seqs.contains(&2),
        "the newest frame is never the one dropped: {seqs:?}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("captured 3"));
}

fn run_jsonl(extra: &[&str]) -> Vec<Value> {
    let o = run_on_samples()
        .args(["--frames", "3", "--jsonl", "-", "--stats-every", "0"])
        .args(extra)
        .output()
        .unwrap();
    json_lines(&o)
}

/// `--smooth`: the first frame passes through, each later one moves from the last
/// filtered value towards the new measurement, never past it (the images differ, so
/// the raw answers jump). Frames arrive tens of ms apart; a gap over 1 s would
/// restart the filter, which this test would report as "not smoothed".
#[test]
fn smoothing_moves_each_frame_part_way_to_the_measurement() {
    let raw = run_jsonl(&[]);
    let smooth = run_jsonl(&["--smooth", "0.1,0"]);
    assert_eq!((raw.len(), smooth.len()), (3, 3));
    assert_close(
        &f32s(&smooth[0]["betas"]),
        &f32s(&raw[0]["betas"]),
        "first frame",
    );
    for k in 1..3 {
        let (prev, now, want) = (
            f32s(&smooth[k - 1]["betas"]),
            f32s(&smooth[k]["betas"]),
            f32s(&raw[k]["betas"]),
        );
        let mut moved = 0;
        for ((p, n), w) in prev.iter().zip(&now).zip(&want) {
            let (lo, hi) = (p.min(*w) - 1e-6, p.max(*w) + 1e-6);
            assert!(
                lo <= *n && *n <= hi,
                "frame {k}: {n} not between {p} and {w}"
            );
            if (n - w).abs() > 1e-4 {
                moved += 1;
            }
        }
        assert!(moved > 0, "frame {k} was not smoothed");
        // θ changed too, and the translation with it.
        assert_ne!(smooth[k]["theta"], raw[k]["theta"]);
        assert_ne!(smooth[k]["cam_t"], raw[k]["cam_t"]);
    }
    let bad = imphmr().args(["run", "--smooth", "1"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("MIN_CUTOFF,BETA"));
}

#[test]
fn overlay_pictures_are_written_per_frame_and_a_missing_framebuffer_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("overlay");
    let body = root().join("models/body/synthetic.body");
    let o = run_on_samples()
        .args(["--frames", "2", "--stats-every", "0", "--jsonl", "-"])
        .args(["--overlay-dir", dir.to_str().unwrap()])
        .args(["--body-model", body.to_str().unwrap()])
        .output()
        .unwrap();
    let lines = json_lines(&o);
    for (k, line) in lines.iter().enumerate() {
        let png = dir.join(format!("{k:06}.png"));
        let picture = image::open(&png).unwrap().to_rgb8();
        let input = image::open(samples()[k].as_str()).unwrap().to_rgb8();
        assert_eq!(picture.dimensions(), input.dimensions());
        // The person box's left edge, half-way down, is drawn in the box colour.
        let b = f32s(&line["box"]);
        let (x, y) = (b[0] as u32 + 1, (b[1] + b[3] / 2.0) as u32);
        assert_eq!(picture.get_pixel(x, y).0, [0, 230, 0], "{}", png.display());
        let changed = picture
            .pixels()
            .zip(input.pixels())
            .filter(|(a, b)| a != b)
            .count();
        assert!(changed > 100, "{changed} pixels drawn");
    }

    let missing = imphmr()
        .args(["run", "--frames", "1", "--fb", "/dev/fb-not-here"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("/dev/fb-not-here") && err.contains("--fb"),
        "{err}"
    );
}
