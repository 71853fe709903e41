//! The hostile user's list (issue 13): every input that once made `imphmr` hang, panic,
//! abort, swallow frames or report success with nothing sent, and what it does now: a
//! one-line error naming the input, or a counted, logged skip.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn imphmr() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imphmr"));
    c.current_dir(root()).args(["--threads", "1"]);
    c
}

/// Wait for `child` at most `limit`; kill it (and fail) if it is still running.
fn wait_at_most(mut child: Child, limit: Duration, what: &str) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "{what}: still running after {limit:?}; stderr: {}",
                tail(&String::from_utf8_lossy(&o.stderr))
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send SIGTERM to `child`; when it was sent.
fn terminate(child: &Child) -> Instant {
    let sent = Instant::now();
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(kill.unwrap().success());
    sent
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn run_at_most(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_at_most(child, limit, what)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A refused input: exit status 2 and one "error:" line that contains every `needle`.
fn assert_refused(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {:?}", lines[0]);
    }
}

/// The number after `key` in a summary line.
fn count(stderr: &str, key: &str) -> u64 {
    let at = stderr
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} not in {stderr}"))
        + key.len();
    stderr[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn run_samples(extra: &[&str]) -> Output {
    run_at_most(
        imphmr()
            .args(["run", "--source", "models/samples", "--frames", "2"])
            .args(["--stats-every", "0"])
            .args(extra),
        Duration::from_secs(120),
        "run",
    )
}

#[test]
fn unbounded_numbers_from_flags_are_refused_with_their_limits() {
    for (args, flag) in [
        (&["--stats-every", "inf"][..], "--stats-every"),
        (&["--stats-every", "nan"][..], "--stats-every"),
        (&["--queue", "1000000000"][..], "--queue"),
        (&["--view-deg", "nan"][..], "--view-deg"),
        (&["--view-deg", "inf"][..], "--view-deg"),
    ] {
        let o = run_samples(args);
        assert_refused(&o, &[flag]);
    }
    let many: Vec<String> = (1..=300).map(|d| d.to_string()).collect();
    let o = run_samples(&["--views", &many.join(",")]);
    assert_refused(&o, &["--views", "300"]);
    let o = run_at_most(
        Command::new(env!("CARGO_BIN_EXE_imphmr"))
            .current_dir(root())
            .args(["--threads", "10000", "inspect", "models/small"]),
        Duration::from_secs(60),
        "threads",
    );
    assert_refused(&o, &["--threads", "10000"]);
}

/// A private copy of the bundled model to break.
fn bundle_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(root().join("models/small")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    (tmp, dir)
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let p = dir.join("imphmr.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let re = regex_lite(&text, from, to);
    std::fs::write(&p, re).unwrap();
}

/// Replace the first line starting with `from` (a key) by `to`.
fn regex_lite(text: &str, from: &str, to: &str) -> String {
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(from) {
                done = true;
                to.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(done, "no line starts with {from:?}");
    out.join("\n") + "\n"
}

#[test]
fn manifest_dimensions_and_non_finite_values_are_refused_with_the_field_named() {
    for (key, line, field) in [
        ("samples", "samples = 100000000", "field.samples"),
        ("hidden", "hidden = 4000000000", "field.hidden"),
        ("mean", "mean = [nan, 0.456, 0.406]", "input.mean"),
        ("std", "std = [0.229, inf, 0.225]", "input.std"),
        ("betas", "betas = 10\nfacing_gate = nan", "head.facing_gate"),
        (
            "latent_dim",
            "latent_dim = 64\nkeypoints = 32",
            "encoder.keypoints",
        ),
    ] {
        let (_tmp, dir) = bundle_copy();
        edit_manifest(&dir, key, line);
        let o = run_at_most(
            imphmr().args(["inspect", dir.to_str().unwrap()]),
            Duration::from_secs(60),
            line,
        );
        assert_refused(&o, &[field]);
    }
}

#[test]
fn inspect_prints_the_memory_a_bundle_needs() {
    let o = run_at_most(
        imphmr().args(["inspect", "models/small"]),
        Duration::from_secs(60),
        "inspect",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("memory"), "{out}");
}

/// A folder of files that are not images, read in a loop.
fn unreadable_folder() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a.png", "b.jpg"] {
        std::fs::write(tmp.path().join(name), b"not an image at all").unwrap();
    }
    tmp
}

#[test]
fn a_looped_folder_of_unreadable_files_neither_spins_nor_floods_and_frames_stops_it() {
    let tmp = unreadable_folder();
    let o = run_at_most(
        imphmr()
            .args(["run", "--source", tmp.path().to_str().unwrap(), "--loop"])
            .args(["--frames", "8", "--stats-every", "0"]),
        Duration::from_secs(60),
        "--frames 8 on unreadable files",
    );
    let err = stderr(&o);
    assert_eq!(count(&err, ", unreadable"), 8, "{err}");
    assert!(err.lines().count() < 20, "a log flood: {err}");
    assert_ne!(o.status.code(), Some(0), "nothing was processed: {err}");
}

#[test]
fn a_signal_stops_a_looped_unreadable_folder_and_an_idle_stdin_within_a_second() {
    let tmp = unreadable_folder();
    for source in [tmp.path().to_str().unwrap(), "-"] {
        let mut cmd = imphmr();
        cmd.args(["run", "--source", source, "--stats-every", "0"]);
        if source != "-" {
            cmd.arg("--loop");
        }
        let mut child = cmd
            .stdin(Stdio::piped()) // never written: an idle pipe
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until it reads (the model is loaded).
        let mut err = child.stderr.take().unwrap();
        let mut seen = vec![];
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&seen).contains("reading:") {
            assert_eq!(
                err.read(&mut byte).unwrap(),
                1,
                "{:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.push(byte[0]);
        }
        std::thread::sleep(Duration::from_millis(500));
        let sent = terminate(&child);
        let reader = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            rest
        });
        let _stdin = child.stdin.take();
        let o = wait_at_most(child, Duration::from_secs(10), source);
        let took = sent.elapsed();
        let rest = reader.join().unwrap();
        assert!(
            took < Duration::from_millis(1500),
            "{source}: stopped after {took:?}"
        );
        assert!(
            rest.contains("frames: captured"),
            "{source}: no summary: {rest}"
        );
        let _ = o;
    }
}

#[test]
fn files_that_vanish_mid_run_are_counted_and_a_signal_still_stops_the_backed_off_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..2)
        .map(|i| {
            let to = tmp.path().join(format!("frame_{i}.jpg"));
            let from = format!("models/samples/synthetic/frame_{i}.jpg");
            std::fs::copy(root().join(from), &to).unwrap();
            to
        })
        .collect();
    let mut child = imphmr()
        .args(["run", "--source", tmp.path().to_str().unwrap(), "--loop"])
        .args(["--stats-every", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Count result lines as they come; start deleting once two frames were processed.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut lines = 0u64;
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) > 0 {
            lines += 1;
            line.clear();
            let _ = tx.send(lines);
        }
        lines
    });
    while rx
        .recv_timeout(Duration::from_secs(120))
        .expect("no result in 120 s")
        < 2
    {}
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    // Long enough for the empty passes' backoff to reach its 5 s step (0.1 s doubling).
    std::thread::sleep(Duration::from_secs(8));
    let sent = terminate(&child);
    let o = wait_at_most(child, Duration::from_secs(20), "vanished files");
    let took = sent.elapsed();
    let processed = reader.join().unwrap();
    let err = stderr(&o);
    assert!(
        took < Duration::from_millis(1500),
        "stopped after {took:?}: {err}"
    );
    assert!(err.contains("frames: captured"), "no summary: {err}");
    // The vanished files are named, counted and back off: a handful of passes, not a
    // spin (which would count thousands), and the log is rate-limited.
    let unreadable = count(&err, ", unreadable");
    assert!(
        (2..=40).contains(&unreadable),
        "{unreadable} unreadable: {err}"
    );
    assert!(
        err.contains("frame_0.jpg"),
        "the vanished file is not named: {err}"
    );
    assert!(err.lines().count() < 25, "a log flood: {err}");
    assert!(processed >= 2, "{processed} results");
}

#[test]
fn tiny_frames_with_track_do_not_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_pixel(20, 12, image::Rgb([90, 120, 30]));
    img.save(tmp.path().join("tiny.png")).unwrap();
    let o = run_at_most(
        imphmr()
            .args(["run", "--source", tmp.path().to_str().unwrap(), "--loop"])
            .args(["--frames", "3", "--track", "--stats-every", "0"]),
        Duration::from_secs(120),
        "--track on tiny frames",
    );
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.status.success(), "{err}");
    assert_eq!(count(&err, "processed"), 3, "{err}");
}

#[test]
fn a_fifo_given_as_an_image_is_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("frame.png");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = run_at_most(
        imphmr().args(["infer", fifo.to_str().unwrap()]),
        Duration::from_secs(30),
        "infer FIFO",
    );
    assert!(stderr(&o).contains("frame.png"), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(1));
    let o = run_at_most(
        imphmr().args([
            "run",
            "--source",
            fifo.to_str().unwrap(),
            "--stats-every",
            "0",
        ]),
        Duration::from_secs(30),
        "run FIFO",
    );
    assert_refused(&o, &["frame.png", "not a regular file"]);
}

#[test]
fn a_greyscale_bomb_is_refused_by_the_pixel_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("bomb.png");
    image::GrayImage::new(9000, 9000).save(&bomb).unwrap();
    let o = run_at_most(
        imphmr().args(["infer", bomb.to_str().unwrap()]),
        Duration::from_secs(60),
        "infer bomb",
    );
    let err = stderr(&o);
    assert!(err.contains("bomb.png") && err.contains("pixel"), "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
}

#[test]
fn a_truncated_jpeg_is_reported_not_turned_into_a_pose() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image::open(root().join("models/samples/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let mut jpg = std::io::Cursor::new(vec![]);
    img.write_to(&mut jpg, image::ImageFormat::Jpeg).unwrap();
    let bytes = jpg.into_inner();
    let cut = tmp.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = run_at_most(
        imphmr().args(["infer", cut.to_str().unwrap()]),
        Duration::from_secs(60),
        "infer truncated",
    );
    let err = stderr(&o);
    assert!(
        err.contains("cut.jpg") && err.contains("truncated"),
        "{err}"
    );
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn run_fails_when_nothing_was_processed_or_an_output_failed() {
    let tmp = unreadable_folder();
    let o = run_at_most(
        imphmr().args([
            "run",
            "--source",
            tmp.path().to_str().unwrap(),
            "--stats-every",
            "0",
        ]),
        Duration::from_secs(60),
        "unreadable folder",
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nothing was processed"),
        "{}",
        stderr(&o)
    );
    if Path::new("/dev/full").exists() {
        let o = run_samples(&["--jsonl", "/dev/full"]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("/dev/full"), "{}", stderr(&o));
    }
}

#[test]
fn a_closed_stdout_stops_the_run() {
    let mut child = imphmr()
        .args([
            "run",
            "--source",
            "models/samples",
            "--loop",
            "--stats-every",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {}
    drop(out); // the reader goes away: EPIPE on the only output
    let o = wait_at_most(child, Duration::from_secs(30), "EPIPE");
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn unreadable_frames_consume_a_sequence_number() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("models/samples/astronaut.png"),
        tmp.path().join("a.png"),
    )
    .unwrap();
    std::fs::write(tmp.path().join("b.png"), b"broken").unwrap();
    std::fs::copy(
        root().join("models/samples/astronaut.png"),
        tmp.path().join("c.png"),
    )
    .unwrap();
    let o = run_at_most(
        imphmr().args([
            "run",
            "--source",
            tmp.path().to_str().unwrap(),
            "--stats-every",
            "0",
        ]),
        Duration::from_secs(120),
        "a gap",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let seqs: Vec<u64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["sequence"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [0, 2], "{}", stderr(&o));
}

/// An MJPEG stream of `n` small frames.
fn mjpeg(n: usize) -> Vec<u8> {
    let mut out = vec![];
    for i in 0..n {
        let img = image::RgbImage::from_pixel(64, 48, image::Rgb([(i * 10) as u8, 90, 200]));
        let mut jpg = std::io::Cursor::new(vec![]);
        img.write_to(&mut jpg, image::ImageFormat::Jpeg).unwrap();
        out.extend(jpg.into_inner());
    }
    out
}

#[test]
fn a_pipe_on_stdin_loses_no_frame_unless_live_is_asked_for() {
    let mut child = imphmr()
        .args(["run", "--source", "-", "--queue", "1", "--stats-every", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&mjpeg(12)).unwrap();
    let o = wait_at_most(child, Duration::from_secs(120), "stdin");
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(lines, 12, "{}", stderr(&o));
    // --live: the freshest frame, the oldest dropped (as a camera).
    let mut child = imphmr()
        .args([
            "run",
            "--source",
            "-",
            "--live",
            "--queue",
            "1",
            "--stats-every",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&mjpeg(12)).unwrap();
    let o = wait_at_most(child, Duration::from_secs(120), "stdin --live");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(count(&stderr(&o), "captured"), 12, "{}", stderr(&o));
}

/// Takes at most 64 bytes a call; its second call fails (a full disk, for a moment).
struct Flaky {
    calls: usize,
    got: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls == 2 {
            return Err(std::io::Error::other("no space left (for a moment)"));
        }
        let n = buf.len().min(64);
        self.got.lock().unwrap().extend(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_jsonl_write_never_glues_half_a_record_to_the_next() {
    use imphmr::output::{Outcome, Sink};
    let engine = imphmr::Engine::load(&root().join("models/small")).unwrap();
    let img = image::open(root().join("models/samples/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let bx = imphmr::crop::PersonBox::centre_square(w, h);
    let inference = engine.infer(&img, &bx, 0.0).unwrap();
    let mut stage = imphmr::body::BodyStage::new(
        None,
        imphmr::body::camera::CameraSetting::SpinCrop,
        engine.bundle.manifest.input.size,
    );
    let body = stage.apply(&inference, &bx, (w, h)).unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let mut sink = imphmr::output::JsonlSink::new(
        Box::new(Flaky {
            calls: 0,
            got: got.clone(),
        }),
        "flaky".into(),
        imphmr::output::json::Extras::default(),
    );
    let mut results = vec![];
    for sequence in 0..3 {
        let mut o = Outcome::still(
            "a".into(),
            std::sync::Arc::new(img.clone()),
            bx,
            true,
            inference.clone(),
            body.clone(),
            true,
        );
        o.sequence = sequence;
        results.push(sink.send(&o).is_ok());
    }
    assert_eq!(results, [false, true, true]);
    let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
    let whole: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(whole, [1, 2], "{text}");
}

#[test]
fn a_non_finite_result_is_refused_not_sent() {
    let engine = imphmr::Engine::load(&root().join("models/small")).unwrap();
    let img = image::open(root().join("models/samples/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let bx = imphmr::crop::PersonBox::centre_square(w, h);
    let inf = engine.infer(&img, &bx, 0.0).unwrap();
    let mut stage = imphmr::body::BodyStage::new(
        None,
        imphmr::body::camera::CameraSetting::SpinCrop,
        engine.bundle.manifest.input.size,
    );
    let body = stage.apply(&inf, &bx, (w, h)).unwrap();
    assert!(imphmr::output::check_finite(&body).is_ok());
    let mut bad = inf.clone();
    bad.regressed.betas[3] = f32::NAN;
    let bad_betas = stage.apply(&bad, &bx, (w, h)).unwrap();
    let e = imphmr::output::check_finite(&bad_betas).unwrap_err();
    assert!(e.contains("betas"), "{e}");
    let mut bad_body = body.clone();
    bad_body.raw.translation[2] = f64::INFINITY;
    let e = imphmr::output::check_finite(&bad_body).unwrap_err();
    assert!(e.contains("translation"), "{e}");
}
