//! What leaves the process: the wire packet (UDP datagrams, COBS-framed serial) and
//! JSON lines. Every sink takes the same `Outcome`; any combination can run at once.

pub mod framing;
pub mod json;
pub mod outcome;
pub mod overlay;
pub mod packet;

pub use outcome::Outcome;
pub use overlay::OverlaySink;

use std::io::Write;
use std::net::{ToSocketAddrs, UdpSocket};

use crate::body::BodyResult;

/// A destination for outcomes.
pub trait Sink: Send {
    /// For logs and errors: "udp 127.0.0.1:9000", "serial /dev/ttyTHS0 @ 921600".
    fn name(&self) -> String;
    fn send(&mut self, outcome: &Outcome) -> std::io::Result<()>;
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Encodes and frames every packet as the serial sink would, then drops it: what
/// `imphmr bench` times as "output", without a device's pace.
#[derive(Debug, Default)]
pub struct DiscardSink {
    pub bytes: u64,
}

impl Sink for DiscardSink {
    fn name(&self) -> String {
        "discard".into()
    }

    fn send(&mut self, outcome: &Outcome) -> std::io::Result<()> {
        self.bytes += framing::frame(&outcome.packet().encode()).len() as u64;
        Ok(())
    }
}

/// One packet per datagram.
pub struct UdpSink {
    socket: UdpSocket,
    target: String,
}

impl UdpSink {
    pub fn connect(target: &str) -> std::io::Result<UdpSink> {
        let addr = target.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{target}: no address"),
            )
        })?;
        let bind = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(addr)?;
        Ok(UdpSink {
            socket,
            target: target.to_string(),
        })
    }
}

impl Sink for UdpSink {
    fn name(&self) -> String {
        format!("udp {}", self.target)
    }
    fn send(&mut self, outcome: &Outcome) -> std::io::Result<()> {
        self.socket.send(&outcome.packet().encode()).map(|_| ())
    }
}

/// COBS-framed packets on a serial line (see `framing`).
pub struct SerialSink {
    port: Box<dyn serialport::SerialPort>,
    name: String,
}

impl SerialSink {
    pub fn open(device: &str, baud: u32) -> Result<SerialSink, serialport::Error> {
        let port = serialport::new(device, baud)
            .timeout(std::time::Duration::from_secs(2))
            .open()?;
        Ok(SerialSink::from_port(
            port,
            format!("serial {device} @ {baud}"),
        ))
    }

    pub fn from_port(port: Box<dyn serialport::SerialPort>, name: String) -> SerialSink {
        SerialSink { port, name }
    }
}

impl Sink for SerialSink {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn send(&mut self, outcome: &Outcome) -> std::io::Result<()> {
        self.port
            .write_all(&framing::frame(&outcome.packet().encode()))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.port.flush()
    }
}

/// JSON lines to a file or stdout, the same fields as the packet for humans.
///
/// Each record is written whole or, when a write fails part way, the next record
/// first ends the broken line: half a record is never glued to the next one.
pub struct JsonlSink {
    out: Box<dyn Write + Send>,
    name: String,
    extras: json::Extras,
    /// A write failed part way through a record: the line is open.
    mid_line: bool,
}

impl JsonlSink {
    pub fn new(out: Box<dyn Write + Send>, name: String, extras: json::Extras) -> JsonlSink {
        JsonlSink {
            out,
            name,
            extras,
            mid_line: false,
        }
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> String {
        format!("jsonl {}", self.name)
    }
    fn send(&mut self, o: &Outcome) -> std::io::Result<()> {
        let mut v = json::inference_line(o, self.extras);
        if let Some(map) = v.as_object_mut() {
            let p = o.packet();
            map.insert("sequence".into(), p.sequence.into());
            map.insert("capture_us".into(), p.capture_us.into());
            map.insert("latency_us".into(), p.latency_us.into());
            map.insert("flags".into(), p.flags.into());
        }
        let mut line = Vec::with_capacity(4096);
        if self.mid_line {
            line.push(b'\n');
        }
        line.extend(v.to_string().into_bytes());
        line.push(b'\n');
        let mut done = 0;
        while done < line.len() {
            match self.out.write(&line[done..]) {
                Ok(0) => {
                    self.mid_line = done > 0 || self.mid_line;
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                Ok(n) => {
                    done += n;
                    self.mid_line = line[done - 1] != b'\n';
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.flush()
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Refuse a result holding NaN or infinity (θ, β, camera, translation, joints,
/// ambiguity): it must never be sent as if valid. The error names the first part found.
pub fn check_finite(body: &BodyResult) -> Result<(), String> {
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    let pose = body.pose();
    let parts: [(&str, bool); 6] = [
        ("theta", pose.axis_angle.iter().all(|a| finite(a))),
        ("betas", finite(&pose.betas)),
        ("camera", finite(&pose.cam)),
        (
            "translation",
            pose.translation.iter().all(|x| x.is_finite()),
        ),
        (
            "joints",
            body.joints
                .as_ref()
                .is_none_or(|js| js.iter().all(|j| finite(j))),
        ),
        (
            "ambiguity",
            body.views
                .as_ref()
                .is_none_or(|v| v.ambiguity.pose_rad.is_finite()),
        ),
    ];
    match parts.iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(format!(
            "the network's {name} is not finite (NaN or infinity): not sent"
        )),
        None => Ok(()),
    }
}
