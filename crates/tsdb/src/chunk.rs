//! Gorilla-compressed chunks (Pelkonen et al., VLDB 2015, as Prometheus's XOR chunk):
//! timestamps as delta-of-delta with variable-width buckets, values XORed with the previous
//! value storing only the meaningful bits. Regular scrape intervals cost one bit per
//! timestamp; slowly changing values a few bits. Value bits are kept exactly, so NaN
//! payloads such as the staleness marker survive. These are the head's chunks; blocks
//! written since format 4 use `column.rs`, and the format-3 block chunks (XOR, or scaled
//! decimals with their times inline) are decoded here.

use pharos_model::series::Sample;

/// Samples per chunk before it is sealed, as in Prometheus.
pub const SAMPLES_PER_CHUNK: u16 = 120;

#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub(crate) fn bit(&mut self, b: bool) {
        self.bits(b as u64, 1);
    }

    /// Writes the low `n` bits of `value`, most significant first, a byte's worth at a time.
    pub(crate) fn bits(&mut self, value: u64, mut n: u8) {
        while n > 0 {
            if self.used == 0 {
                // Small steps rather than doubling: every series has an open chunk, and
                // doubling leaves a quarter of it unused on average.
                if self.bytes.len() == self.bytes.capacity() {
                    self.bytes.reserve_exact(32);
                }
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(n);
            let part = ((value >> (n - take)) as u8) & (((1u16 << take) - 1) as u8);
            let last = self.bytes.len() - 1;
            self.bytes[last] |= part << (free - take);
            self.used = (self.used + take) % 8;
            n -= take;
        }
    }
}

pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    pub(crate) fn bit(&mut self) -> Option<bool> {
        Some(self.bits(1)? == 1)
    }

    pub(crate) fn bits(&mut self, mut n: u8) -> Option<u64> {
        let mut v = 0u64;
        while n > 0 {
            let byte = *self.bytes.get(self.pos / 8)?;
            let avail = 8 - (self.pos % 8) as u8;
            let take = avail.min(n);
            let part = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            v = (v << take) | part as u64;
            self.pos += take as usize;
            n -= take;
        }
        Some(v)
    }
}

/// An appendable chunk: the bit stream, with the sample count kept beside it.
#[derive(Clone, Debug)]
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

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

impl XorChunk {
    pub fn new() -> Self {
        XorChunk::with_capacity(0)
    }

    /// A chunk with room for `bytes` encoded bytes: a series' next chunk is about the
    /// size of its last, and allocating that once avoids growing (and fragmenting) it.
    pub fn with_capacity(bytes: usize) -> Self {
        XorChunk {
            w: BitWriter {
                bytes: Vec::with_capacity(bytes),
                used: 0,
            },
            count: 0,
            min_t: 0,
            t: 0,
            delta: 0,
            v_bits: 0,
            // No window yet: the first changed value writes its own.
            leading: 0xff,
            trailing: 0,
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

    /// The newest sample's time and value bits.
    pub fn last(&self) -> Option<(i64, u64)> {
        (self.count > 0).then_some((self.t, self.v_bits))
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
                put_time_dod(&mut self.w, delta - self.delta);
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

pub(crate) fn write_varint(w: &mut BitWriter, v: i64) {
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

pub(crate) fn read_varint(r: &mut BitReader<'_>) -> Option<i64> {
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
                let dod = get_time_dod(&mut self.r)?;
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

/// Delta-of-delta of timestamps in Prometheus's buckets: 0, 14, 17, 20 bits, else 64.
fn put_time_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.bit(false);
    } else if fits(dod, 14) {
        w.bits(0b10, 2);
        w.bits(dod as u64, 14);
    } else if fits(dod, 17) {
        w.bits(0b110, 3);
        w.bits(dod as u64, 17);
    } else if fits(dod, 20) {
        w.bits(0b1110, 4);
        w.bits(dod as u64, 20);
    } else {
        w.bits(0b1111, 4);
        w.bits(dod as u64, 64);
    }
}

fn get_time_dod(r: &mut BitReader<'_>) -> Option<i64> {
    Some(if !r.bit()? {
        0
    } else if !r.bit()? {
        sign_extend(r.bits(14)?, 14)
    } else if !r.bit()? {
        sign_extend(r.bits(17)?, 17)
    } else if !r.bit()? {
        sign_extend(r.bits(20)?, 20)
    } else {
        r.bits(64)? as i64
    })
}

/// Bit widths for a number after the prefixes `10`, `110`, `1110`; `0` is zero and
/// `1111` a full 64 bits. A decimal chunk uses, for its time deltas-of-deltas and for
/// its value deltas, whichever set encodes them smallest: a few milliseconds of scrape
/// jitter, counters moving by a few units, by hundreds, by millions.
const WIDTHS: [[u8; 3]; 6] = [
    [3, 6, 12],
    [4, 8, 16],
    [6, 12, 24],
    [8, 16, 32],
    [12, 24, 40],
    [14, 17, 20],
];

/// Bits `put_value` spends on `x`. (Format 3's writer is kept for tests only: it makes
/// the chunks that prove format-3 blocks still read.)
#[cfg(test)]
fn value_cost(x: i64, widths: &[u8; 3]) -> u64 {
    if x == 0 {
        return 1;
    }
    for (i, &width) in widths.iter().enumerate() {
        if fits(x, width as u32) {
            return i as u64 + 2 + width as u64;
        }
    }
    68
}

/// The index of the cheapest width set for these numbers, and its cost in bits.
#[cfg(test)]
fn cheapest_widths(xs: &[i64]) -> (usize, u64) {
    (0..WIDTHS.len())
        .map(|i| (i, xs.iter().map(|&x| value_cost(x, &WIDTHS[i])).sum()))
        .min_by_key(|&(_, cost)| cost)
        .unwrap_or((0, 0))
}

#[cfg(test)]
fn put_value(w: &mut BitWriter, x: i64, widths: &[u8; 3]) {
    if x == 0 {
        w.bit(false);
        return;
    }
    for (i, &width) in widths.iter().enumerate() {
        if fits(x, width as u32) {
            // `10`, `110`, `1110`: i+1 ones and a zero.
            w.bits(((1u64 << (i + 1)) - 1) << 1, i as u8 + 2);
            w.bits(x as u64, width);
            return;
        }
    }
    w.bits(0b1111, 4);
    w.bits(x as u64, 64);
}

fn get_value(r: &mut BitReader<'_>, widths: &[u8; 3]) -> Option<i64> {
    if !r.bit()? {
        return Some(0);
    }
    for &width in widths {
        if !r.bit()? {
            return Some(sign_extend(r.bits(width)?, width));
        }
    }
    Some(r.bits(64)? as i64)
}

/// First byte of a format-3 block chunk: how the rest is encoded.
const ENCODING_XOR: u8 = 1;
const ENCODING_DECIMAL: u8 = 2;

/// Exact powers of ten (every one is representable), so that `i / 10^k` is the one
/// correctly rounded double both when encoding and when decoding.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// The smallest `k` such that every value is exactly `i / 10^k` for an integer `i` below
/// 2^53, with the integers; `None` when there is none (NaN, infinities, many digits).
#[cfg(test)]
fn decimal_scale(samples: &[Sample]) -> Option<(u8, Vec<i64>)> {
    'scale: for (k, &p) in POW10.iter().enumerate() {
        let mut ints = Vec::with_capacity(samples.len());
        for s in samples {
            let x = (s.v * p).round();
            if !x.is_finite() || x.abs() >= 9_007_199_254_740_992.0 {
                // NaN and infinities never fit; large values fit no larger scale either.
                return None;
            }
            let i = x as i64;
            if (i as f64 / p).to_bits() != s.v.to_bits() {
                continue 'scale;
            }
            ints.push(i);
        }
        return Some((k as u8, ints));
    }
    None
}

/// Scaled integer values: the first as a varint, then deltas (`second_order` false) or
/// deltas of deltas; times as the first, a varint delta, then deltas of deltas. The
/// mode byte names the width sets: value widths in bits 0-2, time widths in bits 3-5,
/// second order in bit 6.
#[cfg(test)]
fn encode_decimal(samples: &[Sample], scale: u8, ints: &[i64]) -> Vec<u8> {
    let n = samples.len();
    let t_deltas: Vec<i64> = samples
        .windows(2)
        .map(|w| w[1].t.wrapping_sub(w[0].t))
        .collect();
    let t_dods: Vec<i64> = t_deltas
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .collect();
    let v_deltas: Vec<i64> = ints.windows(2).map(|w| w[1] - w[0]).collect();
    let v_dods: Vec<i64> = v_deltas.windows(2).map(|w| w[1] - w[0]).collect();
    let (tw, _) = cheapest_widths(&t_dods);
    let (first_order, first_cost) = cheapest_widths(&v_deltas);
    // Second order: the first delta as such, then deltas of deltas.
    let (second_order, second_cost) = cheapest_widths(&v_dods);
    let second_cost = second_cost
        + v_deltas
            .first()
            .map_or(0, |&d| value_cost(d, &WIDTHS[second_order]));
    let (second, vw) = if n > 2 && second_cost < first_cost {
        (true, second_order)
    } else {
        (false, first_order)
    };
    let mode = (second as u8) << 6 | (tw as u8) << 3 | vw as u8;
    let mut w = BitWriter {
        bytes: vec![ENCODING_DECIMAL, scale, mode],
        used: 0,
    };
    if n == 0 {
        return w.bytes;
    }
    w.bits(samples[0].t as u64, 64);
    write_varint(&mut w, ints[0]);
    for i in 1..n {
        if i == 1 {
            write_varint(&mut w, t_deltas[0]);
        } else {
            put_value(&mut w, t_dods[i - 2], &WIDTHS[tw]);
        }
        let x = if second && i > 1 {
            v_dods[i - 2]
        } else {
            v_deltas[i - 1]
        };
        put_value(&mut w, x, &WIDTHS[vw]);
    }
    w.bytes
}

/// Encodes samples (sorted by time) as a format-3 block chunk: the XOR chunk, or scaled
/// integers with delta-of-delta when every value is a short decimal and that is smaller.
#[cfg(test)]
pub fn encode_block_chunk(samples: &[Sample]) -> Vec<u8> {
    let mut xor = XorChunk::new();
    for s in samples {
        xor.append(s.t, s.v);
    }
    let mut out = Vec::with_capacity(xor.bytes().len() + 1);
    out.push(ENCODING_XOR);
    out.extend_from_slice(xor.bytes());
    if let Some((scale, ints)) = decimal_scale(samples) {
        let dec = encode_decimal(samples, scale, &ints);
        if dec.len() < out.len() {
            return dec;
        }
    }
    out
}

/// Decodes a format-3 block chunk (what `encode_block_chunk` wrote).
pub fn decode_block_chunk(bytes: &[u8], count: u16) -> BlockChunkIter<'_> {
    match bytes.split_first() {
        Some((&ENCODING_XOR, rest)) => BlockChunkIter::Xor(ChunkIter::new(rest, count)),
        Some((&ENCODING_DECIMAL, [scale, mode, rest @ ..])) => {
            let scale = POW10.get(*scale as usize).copied();
            let value_widths = WIDTHS.get((mode & 7) as usize);
            let time_widths = WIDTHS.get((mode >> 3 & 7) as usize);
            match (scale, value_widths, time_widths) {
                (Some(scale), Some(value_widths), Some(time_widths)) => {
                    BlockChunkIter::Decimal(DecimalIter {
                        r: BitReader {
                            bytes: rest,
                            pos: 0,
                        },
                        scale,
                        second_order: mode >> 6 & 1 == 1,
                        value_widths,
                        time_widths,
                        left: count,
                        read: 0,
                        t: 0,
                        t_delta: 0,
                        v: 0,
                        v_delta: 0,
                    })
                }
                _ => BlockChunkIter::Empty,
            }
        }
        _ => BlockChunkIter::Empty,
    }
}

/// The samples of a block chunk, whichever its encoding (none if it is not understood).
pub enum BlockChunkIter<'a> {
    Xor(ChunkIter<'a>),
    Decimal(DecimalIter<'a>),
    Empty,
}

impl Iterator for BlockChunkIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        match self {
            BlockChunkIter::Xor(i) => i.next(),
            BlockChunkIter::Decimal(i) => i.next(),
            BlockChunkIter::Empty => None,
        }
    }
}

pub struct DecimalIter<'a> {
    r: BitReader<'a>,
    scale: f64,
    second_order: bool,
    value_widths: &'static [u8; 3],
    time_widths: &'static [u8; 3],
    left: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: i64,
    v_delta: i64,
}

impl DecimalIter<'_> {
    fn step(&mut self) -> Option<Sample> {
        if self.read == 0 {
            self.t = self.r.bits(64)? as i64;
            self.v = read_varint(&mut self.r)?;
        } else {
            if self.read == 1 {
                self.t_delta = read_varint(&mut self.r)?;
            } else {
                self.t_delta = self
                    .t_delta
                    .wrapping_add(get_value(&mut self.r, self.time_widths)?);
            }
            let x = get_value(&mut self.r, self.value_widths)?;
            if self.second_order && self.read > 1 {
                self.v_delta = self.v_delta.wrapping_add(x);
            } else {
                self.v_delta = x;
            }
            self.t = self.t.wrapping_add(self.t_delta);
            self.v = self.v.wrapping_add(self.v_delta);
        }
        self.read += 1;
        Some(Sample {
            t: self.t,
            v: self.v as f64 / self.scale,
        })
    }
}

impl Iterator for DecimalIter<'_> {
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

    fn block_round_trip(samples: &[Sample]) -> Vec<u8> {
        let bytes = encode_block_chunk(samples);
        let got: Vec<(i64, u64)> = decode_block_chunk(&bytes, samples.len() as u16)
            .map(|s| (s.t, s.v.to_bits()))
            .collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(got, want);
        bytes
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn block_chunks_round_trip_every_kind_of_value() {
        let mut x = 7u64;
        let mut t = 1_700_000_000_000i64;
        let mut counter = 0.0;
        let mut cpu = 0.0f64;
        let (mut counters, mut decimals, mut randoms, mut specials, mut mixed) =
            (vec![], vec![], vec![], vec![], vec![]);
        for i in 0..480 {
            t += 15_000 + (xorshift(&mut x) % 5) as i64 - 2;
            counter += (xorshift(&mut x) % 20) as f64;
            cpu = ((cpu + (xorshift(&mut x) % 300) as f64 / 100.0) * 100.0).round() / 100.0;
            counters.push(Sample { t, v: counter });
            decimals.push(Sample { t, v: cpu });
            randoms.push(Sample {
                t,
                v: f64::from_bits(xorshift(&mut x)),
            });
            let special = [
                f64::NAN,
                stale_marker(),
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.0,
                0.0,
            ];
            specials.push(Sample {
                t,
                v: special[i % special.len()],
            });
            mixed.push(Sample {
                t,
                v: if i % 3 == 0 { -1e15 } else { i as f64 * -0.5 },
            });
        }
        let c = block_round_trip(&counters);
        assert_eq!(c[0], ENCODING_DECIMAL);
        // Random steps of 0-19 with ±2 ms jitter: about 6.6 bits of entropy a sample.
        assert!(c.len() < 480 * 12 / 8, "counters: {} bytes", c.len());
        let d = block_round_trip(&decimals);
        assert_eq!(d[0], ENCODING_DECIMAL);
        // Steps of 0.00-2.99 at random: about 10.5 bits of entropy a sample.
        assert!(d.len() < 480 * 18 / 8, "decimals: {} bytes", d.len());
        assert_eq!(block_round_trip(&randoms)[0], ENCODING_XOR);
        assert_eq!(block_round_trip(&specials)[0], ENCODING_XOR);
        block_round_trip(&mixed);
        block_round_trip(&counters[..1]);
        block_round_trip(&counters[..2]);
        assert!(decode_block_chunk(&[9, 1, 2], 3).next().is_none());
    }
}
