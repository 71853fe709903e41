//! Serial framing: each packet (which carries its own CRC) is COBS-encoded and ended by
//! a zero byte, so a receiver that starts mid-stream or loses bytes resynchronises at the
//! next zero.

use super::packet::{Packet, PacketError, SIZE};

/// COBS-encode one packet and append the 0x00 delimiter.
pub fn frame(packet: &[u8; SIZE]) -> Vec<u8> {
    let mut out = vec![0u8; cobs::max_encoding_length(SIZE) + 1];
    let n = cobs::encode(packet, &mut out);
    out.truncate(n);
    out.push(0);
    out
}

/// What a receiver counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeframeStats {
    pub packets: u64,
    /// Frames whose COBS encoding was broken.
    pub bad_cobs: u64,
    /// Frames of the wrong length once decoded (truncated or merged).
    pub bad_length: u64,
    /// Frames whose CRC, magic or version did not check.
    pub bad_crc: u64,
}

/// Splits a byte stream at zero bytes and decodes each frame into a packet.
#[derive(Debug, Default)]
pub struct Deframer {
    pending: Vec<u8>,
    pub stats: DeframeStats,
}

impl Deframer {
    /// Feed bytes as they arrive; returns the packets completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Packet> {
        let mut out = vec![];
        for &b in bytes {
            if b != 0 {
                // A frame can never be longer than an encoded packet: drop runaway input.
                if self.pending.len() <= cobs::max_encoding_length(SIZE) {
                    self.pending.push(b);
                }
                continue;
            }
            let encoded = std::mem::take(&mut self.pending);
            if encoded.is_empty() {
                continue;
            }
            let mut decoded = vec![0u8; encoded.len()];
            match cobs::decode(&encoded, &mut decoded) {
                Err(_) => self.stats.bad_cobs += 1,
                Ok(report) => match Packet::decode(&decoded[..report.frame_size()]) {
                    Ok(p) => {
                        self.stats.packets += 1;
                        out.push(p);
                    }
                    Err(PacketError::Length(_)) => self.stats.bad_length += 1,
                    Err(_) => self.stats.bad_crc += 1,
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u32) -> Packet {
        Packet {
            sequence: seq,
            betas: [0.0; 10], // zeros inside the packet exercise COBS
            cam: [1.5, -2.0, 0.25],
            ..Packet::default()
        }
    }

    #[test]
    fn frames_round_trip_in_any_chunking() {
        let stream: Vec<u8> = (0..5).flat_map(|s| frame(&packet(s).encode())).collect();
        assert_eq!(
            stream.iter().filter(|b| **b == 0).count(),
            5,
            "zero only as delimiter"
        );
        for chunk in [1, 7, 100, stream.len()] {
            let mut d = Deframer::default();
            let got: Vec<u32> = stream
                .chunks(chunk)
                .flat_map(|c| d.push(c))
                .map(|p| p.sequence)
                .collect();
            assert_eq!(got, vec![0, 1, 2, 3, 4]);
            assert_eq!(d.stats.packets, 5);
        }
    }

    #[test]
    fn corruption_is_counted_and_the_stream_recovers() {
        let mut stream: Vec<u8> = vec![];
        stream.extend(frame(&packet(1).encode()));
        let mut flipped = frame(&packet(2).encode());
        flipped[100] ^= 0x10;
        stream.extend(flipped);
        let truncated = frame(&packet(3).encode());
        stream.extend(&truncated[..300]);
        stream.push(0);
        stream.extend(frame(&packet(4).encode()));
        let mut d = Deframer::default();
        let got: Vec<u32> = d.push(&stream).iter().map(|p| p.sequence).collect();
        assert_eq!(got, vec![1, 4]);
        assert_eq!(d.stats.packets, 2);
        assert_eq!(d.stats.bad_cobs + d.stats.bad_length + d.stats.bad_crc, 2);
    }
}
