//! Gorilla-compressed chunks (Pelkonen et al., VLDB 2015, as Prometheus's XOR chunk):
//! timestamps as delta-of-delta with variable-width buckets, values XORed with the previous
//! value storing only the meaningful bits. Regular scrape intervals cost one bit per
//! timestamp; slowly changing values a few bits. Value bits are kept exactly, so NaN
//! payloads such as the staleness marker survive.

use pharos_model::series::Sample;

/// Samples per chunk before it is sealed, as in Prometheus.
pub const SAMPLES_PER_CHUNK: u16 = 120;

#[derive(Clone, Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    fn bit(&mut self, b: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if b {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    fn bits(&mut self, value: u64, n: u8) {
        for i in (0..n).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let b = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(b)
    }

    fn bits(&mut self, n: u8) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | self.bit()? as u64;
        }
        Some(v)
    }
}

/// An appendable chunk. The encoded form is `count (u16 BE)` + the bit stream.
#[derive(Clone, Debug, Default)]
pub struct XorChunk {
    w: BitWriter,
    count: u16,
    min_t: i64,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl XorChunk {
    pub fn new() -> Self {
        XorChunk {
            leading: 0xff,
            ..Default::default()
        }
    }

    pub fn len(&self) -> u16 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.count >= SAMPLES_PER_CHUNK
    }

    pub fn min_time(&self) -> i64 {
        self.min_t
    }

    pub fn max_time(&self) -> i64 {
        self.t
    }

    /// Encoded bytes (bit stream only; the count travels beside it).
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    pub fn heap_bytes(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Appends a sample; the caller guarantees `t` is after the last sample.
    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                self.w.bits(t as u64, 64);
                self.w.bits(bits, 64);
                self.min_t = t;
            }
            1 => {
                let delta = t - self.t;
                write_varint(&mut self.w, delta);
                self.delta = delta;
                self.write_value(bits);
            }
            _ => {
                let delta = t - self.t;
                let dod = delta - self.delta;
                // Buckets as Prometheus uses them: 0, 14, 17, 20 bits, else 64.
                if dod == 0 {
                    self.w.bit(false);
                } else if fits(dod, 14) {
                    self.w.bits(0b10, 2);
                    self.w.bits(dod as u64, 14);
                } else if fits(dod, 17) {
                    self.w.bits(0b110, 3);
                    self.w.bits(dod as u64, 17);
                } else if fits(dod, 20) {
                    self.w.bits(0b1110, 4);
                    self.w.bits(dod as u64, 20);
                } else {
                    self.w.bits(0b1111, 4);
                    self.w.bits(dod as u64, 64);
                }
                self.delta = delta;
                self.write_value(bits);
            }
        }
        self.t = t;
        self.v_bits = bits;
        self.count += 1;
    }

    fn write_value(&mut self, bits: u64) {
        let x = bits ^ self.v_bits;
        if x == 0 {
            self.w.bit(false);
            return;
        }
        self.w.bit(true);
        let leading = (x.leading_zeros() as u8).min(31);
        let trailing = x.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            self.w.bit(false);
            let sig = 64 - self.leading - self.trailing;
            self.w.bits(x >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.w.bit(true);
            self.w.bits(leading as u64, 5);
            let sig = 64 - leading - trailing;
            // 64 significant bits are written as 0 in six bits.
            self.w.bits((sig % 64) as u64, 6);
            self.w.bits(x >> trailing, sig);
        }
    }

    /// The chunk's samples.
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter::new(&self.w.bytes, self.count)
    }
}

fn fits(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    v >= -lim && v < lim
}

fn write_varint(w: &mut BitWriter, v: i64) {
    // Zig-zag, then 7 bits per group with a continuation bit: the first delta is small.
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let group = u & 0x7f;
        u >>= 7;
        w.bit(u != 0);
        w.bits(group, 7);
        if u == 0 {
            break;
        }
    }
}

fn read_varint(r: &mut BitReader<'_>) -> Option<i64> {
    let mut u = 0u64;
    let mut shift = 0;
    loop {
        let more = r.bit()?;
        u |= r.bits(7)? << shift;
        shift += 7;
        if !more {
            break;
        }
        if shift > 63 {
            return None;
        }
    }
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

fn sign_extend(v: u64, bits: u8) -> i64 {
    let shift = 64 - bits as u32;
    ((v << shift) as i64) >> shift
}

/// Decodes a chunk's bit stream holding `count` samples.
pub struct ChunkIter<'a> {
    r: BitReader<'a>,
    left: u16,
    read: u16,
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl<'a> ChunkIter<'a> {
    pub fn new(bytes: &'a [u8], count: u16) -> Self {
        ChunkIter {
            r: BitReader { bytes, pos: 0 },
            left: count,
            read: 0,
            t: 0,
            delta: 0,
            v_bits: 0,
            leading: 0,
            trailing: 0,
        }
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.bit()? {
            return Some(());
        }
        if self.r.bit()? {
            self.leading = self.r.bits(5)? as u8;
            let mut sig = self.r.bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            self.trailing = 64 - self.leading - sig;
        }
        let sig = 64 - self.leading - self.trailing;
        let x = self.r.bits(sig)?;
        self.v_bits ^= x << self.trailing;
        Some(())
    }

    fn step(&mut self) -> Option<Sample> {
        match self.read {
            0 => {
                self.t = self.r.bits(64)? as i64;
                self.v_bits = self.r.bits(64)?;
            }
            1 => {
                self.delta = read_varint(&mut self.r)?;
                self.t += self.delta;
                self.read_value()?;
            }
            _ => {
                let dod = if !self.r.bit()? {
                    0
                } else if !self.r.bit()? {
                    sign_extend(self.r.bits(14)?, 14)
                } else if !self.r.bit()? {
                    sign_extend(self.r.bits(17)?, 17)
                } else if !self.r.bit()? {
                    sign_extend(self.r.bits(20)?, 20)
                } else {
                    self.r.bits(64)? as i64
                };
                self.delta += dod;
                self.t += self.delta;
                self.read_value()?;
            }
        }
        self.read += 1;
        Some(Sample {
            t: self.t,
            v: f64::from_bits(self.v_bits),
        })
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let s = self.step();
        if s.is_none() {
            self.left = 0;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::series::stale_marker;

    fn round_trip(samples: &[(i64, f64)]) -> usize {
        let mut c = XorChunk::new();
        for &(t, v) in samples {
            c.append(t, v);
        }
        let got: Vec<(i64, u64)> = c.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
        c.bytes().len()
    }

    #[test]
    fn regular_scrapes_compress_to_about_a_byte_per_sample() {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (1_700_000_000_000 + i * 15_000, (i * 3) as f64))
            .collect();
        let bytes = round_trip(&samples);
        assert!(bytes < 120 * 2, "{bytes} bytes");
        let constant: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, 1.0)).collect();
        assert!(round_trip(&constant) < 60, "two bits per repeated sample");
    }

    #[test]
    fn special_values_and_irregular_times_survive() {
        let mut s = vec![
            (-5, 0.0),
            (0, f64::NAN),
            (1, stale_marker()),
            (1_000_000_000, f64::INFINITY),
            (1_000_000_001, f64::NEG_INFINITY),
            (1_000_000_002, -0.0),
            (i64::MAX / 4, f64::MIN_POSITIVE),
            (i64::MAX / 2, f64::MAX),
        ];
        round_trip(&s);
        // Pseudo-random walk with jitter.
        let mut x: u64 = 42;
        let mut t = 0i64;
        s.clear();
        for _ in 0..120 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t += 10_000 + (x % 2000) as i64 - 1000;
            s.push((t, (x % 100_000) as f64 / 7.0));
        }
        round_trip(&s);
    }
}
