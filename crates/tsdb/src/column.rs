//! Block chunks as two columns (block format 4). The times go to the block's `times` file,
//! once for all the series that share them: every series of one scrape target carries
//! the same scrape timestamps, so a 2 h block holds about one time column per target and
//! chunk span, and a series' chunk only points at it. The values stay in the chunk, either
//! as scaled decimal integers (when every value is exactly `i / 10^k`, as scraped text
//! mostly is) or as Gorilla XOR of the values alone.
//!
//! Integers (times, and decimal values) are coded as residuals from a prediction, with
//! whichever of these is smallest for the chunk: order 0 (`x[i] - x[0] - i·slope`: jittered
//! scrape times around a fixed interval), order 1 (`x[i] - x[i-1] - bias`: counters and
//! random walks), order 2 (deltas of deltas: smooth curves); divided by their common
//! factor (gauges in 4 KiB pages, decimals in steps of 5); then Rice codes with the best
//! parameter, or runs of zeros and Rice codes for sparse changes (a counter of errors,
//! a constant). Special values (NaN and the staleness marker, infinities, -0.0) in an
//! otherwise decimal chunk are kept apart with their exact bits.

use pharos_model::series::Sample;

use crate::chunk::{BitReader, BitWriter, read_varint, write_varint};

/// First byte of a format-4 block chunk; the XOR (1) and decimal (2) chunks of format 3,
/// with their times inline, are decoded by `chunk.rs`.
pub const ENCODING_COLUMNS: u8 = 3;

/// First byte of a value column.
const VALUES_XOR: u8 = 0;
const VALUES_DECIMAL: u8 = 1;
/// The values' bit patterns as integers: for floats that drift (a histogram's `_sum`)
/// the integer difference of neighbours is shorter than their XOR.
const VALUES_FLOAT_BITS: u8 = 2;

/// A unary prefix this long announces a raw 64-bit value (a Rice code would be longer).
const ESCAPE: u64 = 24;

/// Exact powers of ten (every one is representable), so that `i / 10^k` is the one
/// correctly rounded double both when encoding and when decoding.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Values no decimal scale can hold but whose exact bits must survive.
fn is_exception(v: f64) -> bool {
    !v.is_finite() || (v == 0.0 && v.is_sign_negative())
}

fn rice_cost(u: u64, k: u8) -> u64 {
    let q = u >> k;
    if q < ESCAPE {
        q + 1 + k as u64
    } else {
        ESCAPE + 64
    }
}

fn put_rice(w: &mut BitWriter, u: u64, k: u8) {
    let q = u >> k;
    if q < ESCAPE {
        // q ones and a zero.
        w.bits((1u64 << (q + 1)) - 2, q as u8 + 1);
        if k > 0 {
            w.bits(u & (u64::MAX >> (64 - k)), k);
        }
    } else {
        w.bits((1u64 << ESCAPE) - 1, ESCAPE as u8);
        w.bits(u, 64);
    }
}

fn get_rice(r: &mut BitReader<'_>, k: u8) -> Option<u64> {
    let mut q = 0;
    while q < ESCAPE && r.bit()? {
        q += 1;
    }
    if q == ESCAPE {
        return r.bits(64);
    }
    let low = if k > 0 { r.bits(k)? } else { 0 };
    Some(q << k | low)
}

/// The Rice parameter that codes `us` smallest, and the bits it takes.
fn best_rice(us: &[u64]) -> (u8, u64) {
    if us.is_empty() {
        return (0, 0);
    }
    let mean = us.iter().map(|&u| u as u128).sum::<u128>() / us.len() as u128;
    // The best parameter is within a step or two of log2 of the mean.
    let k0 = (128 - mean.leading_zeros()).min(62) as u8;
    (k0.saturating_sub(2)..=(k0 + 1).min(62))
        .map(|k| (k, us.iter().map(|&u| rice_cost(u, k)).sum::<u64>()))
        .min_by_key(|&(_, cost)| cost)
        .unwrap_or((0, 0))
}

fn varint_bits(v: i64) -> u64 {
    let u = crate::codec::zigzag(v);
    8 * (64 - u.leading_zeros() as u64).div_ceil(7).max(1)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Coder {
    /// Every residual is zero.
    Zero,
    Rice {
        k: u8,
    },
    /// A run of zeros (Rice `kz`), then a non-zero residual (Rice `k` of its zig-zag
    /// minus one), until the end.
    ZeroRuns {
        kz: u8,
        k: u8,
    },
}

struct IntPlan {
    order: u8,
    bias: i64,
    factor: u64,
    coder: Coder,
    /// Zig-zagged residuals divided by `factor`.
    us: Vec<u64>,
    bits: u64,
}

fn residuals(xs: &[i64], order: u8, bias: i64) -> Vec<i64> {
    match order {
        0 => (1..xs.len())
            .map(|i| {
                xs[i]
                    .wrapping_sub(xs[0])
                    .wrapping_sub((i as i64).wrapping_mul(bias))
            })
            .collect(),
        1 => xs
            .windows(2)
            .map(|w| w[1].wrapping_sub(w[0]).wrapping_sub(bias))
            .collect(),
        _ => xs
            .windows(3)
            .map(|w| {
                let d1 = w[1].wrapping_sub(w[0]);
                let d2 = w[2].wrapping_sub(w[1]);
                d2.wrapping_sub(d1).wrapping_sub(bias)
            })
            .collect(),
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn median(mut xs: Vec<i64>) -> i64 {
    if xs.is_empty() {
        return 0;
    }
    let mid = xs.len() / 2;
    *xs.select_nth_unstable(mid).1
}

fn plan(xs: &[i64], order: u8, bias: i64) -> IntPlan {
    let rs = residuals(xs, order, bias);
    let g = rs.iter().fold(0u64, |g, r| gcd(g, r.unsigned_abs()));
    // A factor of 2^63 (from i64::MIN) would not divide as an i64.
    let factor = if g == 0 || g > i64::MAX as u64 { 1 } else { g };
    let us: Vec<u64> = rs
        .iter()
        .map(|&r| crate::codec::zigzag(r / factor as i64))
        .collect();
    let mut header = 4 + varint_bits(xs[0]) + varint_bits(bias) + varint_bits(factor as i64);
    if order == 2 && xs.len() >= 2 {
        header += varint_bits(xs[1].wrapping_sub(xs[0]));
    }
    let (coder, body) = if us.iter().all(|&u| u == 0) {
        (Coder::Zero, 0)
    } else {
        let (k, rice) = best_rice(&us);
        let mut runs = Vec::new();
        let mut nonzero = Vec::new();
        let mut run = 0u64;
        for &u in &us {
            if u == 0 {
                run += 1;
            } else {
                runs.push(run);
                nonzero.push(u - 1);
                run = 0;
            }
        }
        if run > 0 {
            runs.push(run);
        }
        let (kz, run_bits) = best_rice(&runs);
        let (kn, nonzero_bits) = best_rice(&nonzero);
        if run_bits + nonzero_bits + 6 < rice {
            (Coder::ZeroRuns { kz, k: kn }, run_bits + nonzero_bits + 12)
        } else {
            (Coder::Rice { k }, rice + 6)
        }
    };
    IntPlan {
        order,
        bias,
        factor,
        coder,
        us,
        bits: header + body,
    }
}

/// The cheapest coding of `xs` (at least one number).
fn cheapest_plan(xs: &[i64]) -> IntPlan {
    let deltas: Vec<i64> = xs.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let dods: Vec<i64> = deltas.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let slope = median(deltas);
    let mut best = plan(xs, 1, slope);
    for candidate in [(0, slope), (1, 0), (2, median(dods))] {
        if candidate.0 == 2 && xs.len() < 3 {
            continue;
        }
        let p = plan(xs, candidate.0, candidate.1);
        if p.bits < best.bits {
            best = p;
        }
    }
    best
}

/// Writes integers (their count travels beside them).
fn put_ints(w: &mut BitWriter, xs: &[i64]) {
    if !xs.is_empty() {
        put_plan(w, xs, &cheapest_plan(xs));
    }
}

fn put_plan(w: &mut BitWriter, xs: &[i64], p: &IntPlan) {
    let first = xs[0];
    let coder = match p.coder {
        Coder::Zero => 0,
        Coder::Rice { .. } => 1,
        Coder::ZeroRuns { .. } => 2,
    };
    w.bits((p.order << 2 | coder) as u64, 4);
    write_varint(w, first);
    if p.order == 2 && xs.len() >= 2 {
        write_varint(w, xs[1].wrapping_sub(xs[0]));
    }
    write_varint(w, p.bias);
    write_varint(w, p.factor as i64);
    match p.coder {
        Coder::Zero => {}
        Coder::Rice { k } => {
            w.bits(k as u64, 6);
            for &u in &p.us {
                put_rice(w, u, k);
            }
        }
        Coder::ZeroRuns { kz, k } => {
            w.bits(kz as u64, 6);
            w.bits(k as u64, 6);
            let mut i = 0;
            while i < p.us.len() {
                let run = p.us[i..].iter().take_while(|&&u| u == 0).count();
                put_rice(w, run as u64, kz);
                i += run;
                if i < p.us.len() {
                    put_rice(w, p.us[i] - 1, k);
                    i += 1;
                }
            }
        }
    }
}

/// Reads `n` integers written by [`put_ints`].
fn get_ints(r: &mut BitReader<'_>, n: usize) -> Option<Vec<i64>> {
    let mut xs = Vec::with_capacity(n);
    if n == 0 {
        return Some(xs);
    }
    let mode = r.bits(4)? as u8;
    let (order, coder) = (mode >> 2, mode & 3);
    let first = read_varint(r)?;
    let first_delta = if order == 2 && n >= 2 {
        read_varint(r)?
    } else {
        0
    };
    let bias = read_varint(r)?;
    let factor = read_varint(r)?;
    let m = n - 1 - (order == 2 && n >= 2) as usize;
    let mut rs = Vec::with_capacity(m);
    match coder {
        0 => rs.resize(m, 0),
        1 => {
            let k = r.bits(6)? as u8;
            for _ in 0..m {
                rs.push(get_rice(r, k)?);
            }
        }
        2 => {
            let kz = r.bits(6)? as u8;
            let k = r.bits(6)? as u8;
            while rs.len() < m {
                let run = get_rice(r, kz)?;
                if run > (m - rs.len()) as u64 {
                    return None;
                }
                rs.resize(rs.len() + run as usize, 0);
                if rs.len() < m {
                    rs.push(get_rice(r, k)?.checked_add(1)?);
                }
            }
        }
        _ => return None,
    }
    let rs = rs
        .into_iter()
        .map(|u| crate::codec::unzigzag(u).wrapping_mul(factor));
    xs.push(first);
    match order {
        0 => {
            for (i, r) in rs.enumerate() {
                let i = i as i64 + 1;
                xs.push(first.wrapping_add(i.wrapping_mul(bias)).wrapping_add(r));
            }
        }
        1 => {
            for r in rs {
                let last = xs[xs.len() - 1];
                xs.push(last.wrapping_add(bias).wrapping_add(r));
            }
        }
        2 => {
            let mut delta = first_delta;
            if n >= 2 {
                xs.push(first.wrapping_add(delta));
            }
            for r in rs {
                delta = delta.wrapping_add(bias).wrapping_add(r);
                let last = xs[xs.len() - 1];
                xs.push(last.wrapping_add(delta));
            }
        }
        _ => return None,
    }
    Some(xs)
}

/// A time column: the samples' times, to be shared by every chunk with the same ones.
pub fn encode_times(samples: &[Sample]) -> Vec<u8> {
    let ts: Vec<i64> = samples.iter().map(|s| s.t).collect();
    let mut w = BitWriter::default();
    put_ints(&mut w, &ts);
    w.into_bytes()
}

/// Whether a time column holds exactly these samples' times.
pub fn same_times(column: &[u8], samples: &[Sample]) -> bool {
    get_ints(&mut BitReader::new(column), samples.len())
        .is_some_and(|ts| ts.iter().zip(samples).all(|(&t, s)| t == s.t))
}

/// The smallest `k` such that every value apart from the exceptions is exactly `i / 10^k`
/// for an integer `i` below 2^53, with the integers (an exception gets the integer before
/// it, so it costs nothing in the deltas); `None` when there is none.
fn decimal_scale(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    let first_plain = values.iter().position(|&v| !is_exception(v))?;
    'scale: for (k, &p) in POW10.iter().enumerate() {
        let mut ints = Vec::with_capacity(values.len());
        let mut last = None;
        for &v in values {
            if is_exception(v) {
                ints.push(last.unwrap_or(0));
                continue;
            }
            let x = (v * p).round();
            if x.abs() >= 9_007_199_254_740_992.0 {
                // Large values fit no larger scale either.
                return None;
            }
            let i = x as i64;
            if (i as f64 / p).to_bits() != v.to_bits() {
                continue 'scale;
            }
            ints.push(i);
            last = Some(i);
        }
        // Exceptions before the first plain value take its integer.
        let head = ints[first_plain];
        ints[..first_plain].fill(head);
        return Some((k as u8, ints));
    }
    None
}

fn put_xor_values(w: &mut BitWriter, values: &[f64]) {
    let Some(first) = values.first() else {
        return;
    };
    let mut prev = first.to_bits();
    w.bits(prev, 64);
    // No window yet: the first changed value writes its own.
    let (mut leading, mut trailing) = (0xffu8, 0u8);
    for v in &values[1..] {
        let bits = v.to_bits();
        let x = bits ^ prev;
        prev = bits;
        if x == 0 {
            w.bit(false);
            continue;
        }
        w.bit(true);
        let lz = (x.leading_zeros() as u8).min(31);
        let tz = x.trailing_zeros() as u8;
        if leading != 0xff && lz >= leading && tz >= trailing {
            w.bit(false);
            w.bits(x >> trailing, 64 - leading - trailing);
        } else {
            (leading, trailing) = (lz, tz);
            w.bit(true);
            w.bits(lz as u64, 5);
            let sig = 64 - lz - tz;
            // 64 significant bits are written as 0 in six bits.
            w.bits((sig % 64) as u64, 6);
            w.bits(x >> tz, sig);
        }
    }
}

fn get_xor_values(r: &mut BitReader<'_>, n: usize) -> Option<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Some(out);
    }
    let mut bits = r.bits(64)?;
    out.push(f64::from_bits(bits));
    let (mut leading, mut trailing) = (0u8, 0u8);
    for _ in 1..n {
        if r.bit()? {
            if r.bit()? {
                leading = r.bits(5)? as u8;
                let mut sig = r.bits(6)? as u8;
                if sig == 0 {
                    sig = 64;
                }
                trailing = 64u8.checked_sub(leading + sig)?;
            }
            bits ^= r.bits(64 - leading - trailing)? << trailing;
        }
        out.push(f64::from_bits(bits));
    }
    Some(out)
}

/// A value column: scaled decimal integers when they fit and are smaller, else XOR.
pub fn encode_values(values: &[f64]) -> Vec<u8> {
    let mut xor = BitWriter::default();
    xor.bits(VALUES_XOR as u64, 8);
    put_xor_values(&mut xor, values);
    let xor = xor.into_bytes();
    // Decimals are not tried as float bits too: their bit patterns jump with every
    // exponent, so that coding hardly ever wins, and it is the costly one to try.
    if let Some(dec) = encode_decimal(values) {
        return if dec.len() < xor.len() { dec } else { xor };
    }
    let mut w = BitWriter::default();
    w.bits(VALUES_FLOAT_BITS as u64, 8);
    let bits: Vec<i64> = values.iter().map(|v| v.to_bits() as i64).collect();
    put_ints(&mut w, &bits);
    let float_bits = w.into_bytes();
    if float_bits.len() < xor.len() {
        float_bits
    } else {
        xor
    }
}

fn encode_decimal(values: &[f64]) -> Option<Vec<u8>> {
    let (scale, ints) = decimal_scale(values)?;
    let mut w = BitWriter::default();
    w.bits(VALUES_DECIMAL as u64, 8);
    w.bits(scale as u64, 4);
    let exceptions: Vec<(usize, u64)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| is_exception(**v))
        .map(|(i, v)| (i, v.to_bits()))
        .collect();
    write_varint(&mut w, exceptions.len() as i64);
    let mut at = 0;
    for (i, bits) in exceptions {
        write_varint(&mut w, (i - at) as i64);
        w.bits(bits, 64);
        at = i;
    }
    put_ints(&mut w, &ints);
    Some(w.into_bytes())
}

fn decode_values(bytes: &[u8], n: usize) -> Option<Vec<f64>> {
    let mut r = BitReader::new(bytes);
    match r.bits(8)? as u8 {
        VALUES_XOR => get_xor_values(&mut r, n),
        VALUES_FLOAT_BITS => Some(
            get_ints(&mut r, n)?
                .into_iter()
                .map(|i| f64::from_bits(i as u64))
                .collect(),
        ),
        VALUES_DECIMAL => {
            let p = *POW10.get(r.bits(4)? as usize)?;
            let count = read_varint(&mut r)?;
            if count < 0 || count as usize > n {
                return None;
            }
            let mut exceptions = Vec::with_capacity(count as usize);
            let mut at = 0usize;
            for _ in 0..count {
                at = at.checked_add(usize::try_from(read_varint(&mut r)?).ok()?)?;
                exceptions.push((at, r.bits(64)?));
            }
            let mut values: Vec<f64> = get_ints(&mut r, n)?
                .into_iter()
                .map(|i| i as f64 / p)
                .collect();
            for (i, bits) in exceptions {
                *values.get_mut(i)? = f64::from_bits(bits);
            }
            Some(values)
        }
        _ => None,
    }
}

/// A chunk pointing at its time column (`times_offset`, `times_len` in the `times` file).
pub fn encode_chunk(values: &[u8], times_offset: u64, times_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() + 8);
    out.push(ENCODING_COLUMNS);
    crate::codec::put_varint(&mut out, times_offset);
    crate::codec::put_varint(&mut out, times_len as u64);
    out.extend_from_slice(values);
    out
}

/// Where a column chunk's times are: `(offset, length)` in the `times` file, and the
/// value column.
pub fn chunk_parts(chunk: &[u8]) -> Option<(u64, usize, &[u8])> {
    let (&ENCODING_COLUMNS, rest) = chunk.split_first()? else {
        return None;
    };
    let mut r = crate::codec::Reader::new(rest);
    let offset = r.varint()?;
    let len = usize::try_from(r.varint()?).ok()?;
    Some((offset, len, &rest[r.pos..]))
}

/// The `count` samples of a column chunk, given its value column and time column;
/// `None` if either is malformed.
pub fn decode_chunk(values: &[u8], times: &[u8], count: u16) -> Option<Vec<Sample>> {
    let n = count as usize;
    let ts = get_ints(&mut BitReader::new(times), n)?;
    let vs = decode_values(values, n)?;
    Some(
        ts.into_iter()
            .zip(vs)
            .map(|(t, v)| Sample { t, v })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::series::stale_marker;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    fn round_trip(samples: &[Sample]) -> (usize, u8) {
        let times = encode_times(samples);
        let values: Vec<f64> = samples.iter().map(|s| s.v).collect();
        let vals = encode_values(&values);
        let chunk = encode_chunk(&vals, 12_345, times.len());
        let (offset, len, vals_again) = chunk_parts(&chunk).unwrap();
        assert_eq!((offset, len), (12_345, times.len()));
        let got = decode_chunk(vals_again, &times, samples.len() as u16).unwrap();
        let got: Vec<(i64, u64)> = got.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        assert_eq!(got, want);
        (vals.len(), vals[0])
    }

    fn at_scrapes(values: impl IntoIterator<Item = f64>) -> Vec<Sample> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| Sample {
                t: 1_700_000_000_000 + i as i64 * 15_000,
                v,
            })
            .collect()
    }

    #[test]
    fn rice_codes_and_escapes_round_trip() {
        for k in [0u8, 1, 5, 30, 62] {
            let us = [0u64, 1, 2, 7, 1 << 20, u64::MAX, u64::MAX >> 1, 12345];
            let mut w = BitWriter::default();
            for &u in &us {
                put_rice(&mut w, u, k);
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes);
            for &u in &us {
                assert_eq!(get_rice(&mut r, k), Some(u), "k {k}");
            }
        }
    }

    #[test]
    fn integer_sequences_round_trip_in_every_order() {
        let mut x = 99u64;
        let cases: Vec<Vec<i64>> = vec![
            vec![5],
            vec![5, 7],
            vec![i64::MIN, i64::MAX, 0, -1, i64::MIN],
            (0..480).map(|i| i * 15_000 + (i % 4)).collect(),
            (0..480)
                .map(|_| (xorshift(&mut x) % 7) as i64 - 3)
                .collect(),
            (0..480).map(|_| xorshift(&mut x) as i64).collect(),
            (0..480).map(|i| i * i * 4096).collect(),
            vec![0; 480],
            (0..480).map(|i| if i % 50 == 0 { i } else { 0 }).collect(),
        ];
        for xs in cases {
            for (order, bias) in [(0, 0), (0, 15_000), (1, 0), (1, -3), (2, 0), (2, 7)] {
                if order == 2 && xs.len() < 3 {
                    continue;
                }
                let p = plan(&xs, order, bias);
                let mut w = BitWriter::default();
                put_plan(&mut w, &xs, &p);
                let bytes = w.into_bytes();
                assert_eq!(
                    get_ints(&mut BitReader::new(&bytes), xs.len()).as_ref(),
                    Some(&xs),
                    "order {order} bias {bias} {:?}",
                    p.coder
                );
                assert!(
                    bytes.len() as u64 * 8 >= p.bits,
                    "the estimate is exact or low"
                );
                assert!(bytes.len() as u64 * 8 < p.bits + 8 + 12);
            }
        }
    }

    #[test]
    fn decimals_integers_and_counters_with_resets_code_as_decimals() {
        let mut x = 7u64;
        let mut c = 0.0;
        let counter: Vec<f64> = (0..480)
            .map(|i| {
                if i == 200 {
                    c = 0.0;
                }
                c += (xorshift(&mut x) % 20) as f64;
                c
            })
            .collect();
        let (bytes, kind) = round_trip(&at_scrapes(counter));
        assert_eq!(kind, VALUES_DECIMAL);
        // Uniform steps of 0-19: 4.3 bits of entropy each.
        assert!(bytes < 480 * 55 / 80, "counter: {bytes} bytes");
        let mut cpu = 1234.56f64;
        let cpu: Vec<f64> = (0..480)
            .map(|_| {
                cpu = ((cpu + (xorshift(&mut x) % 300) as f64 / 100.0) * 100.0).round() / 100.0;
                cpu
            })
            .collect();
        let (bytes, kind) = round_trip(&at_scrapes(cpu));
        assert_eq!(kind, VALUES_DECIMAL);
        assert!(bytes < 480 * 10 / 8, "two decimals: {bytes} bytes");
        let random_decimals: Vec<f64> = (0..480)
            .map(|_| ((xorshift(&mut x) % 10_000_000) as i64 - 5_000_000) as f64 / 1000.0)
            .collect();
        assert_eq!(round_trip(&at_scrapes(random_decimals)).1, VALUES_DECIMAL);
        let (bytes, _) = round_trip(&at_scrapes(vec![1048576.0; 480]));
        assert!(bytes < 16, "a constant: {bytes} bytes");
        let sparse: Vec<f64> = (0..480).map(|i| (i / 97) as f64).collect();
        let (bytes, _) = round_trip(&at_scrapes(sparse));
        assert!(bytes < 24, "a counter that rarely moves: {bytes} bytes");
        let mut rss = 1e9;
        let pages: Vec<f64> = (0..480)
            .map(|_| {
                rss += ((xorshift(&mut x) % 129) as f64 - 64.0) * 4096.0;
                rss
            })
            .collect();
        let (bytes, _) = round_trip(&at_scrapes(pages));
        // Steps of -64..=64 pages: 7 bits of entropy each.
        assert!(bytes < 480, "a gauge moving in 4 KiB pages: {bytes} bytes");
    }

    #[test]
    fn full_precision_floats_and_special_values_keep_their_bits() {
        let mut x = 3u64;
        let floats: Vec<f64> = (0..480)
            .map(|_| f64::from_bits(xorshift(&mut x) >> 2) * 1e-3)
            .collect();
        assert_ne!(round_trip(&at_scrapes(floats.clone())).1, VALUES_DECIMAL);
        let mut sum = 0.0;
        let sums: Vec<f64> = floats
            .iter()
            .map(|f| {
                sum += f.abs().min(1e6);
                sum
            })
            .collect();
        assert_eq!(round_trip(&at_scrapes(sums)).1, VALUES_FLOAT_BITS);
        let specials = [
            f64::NAN,
            stale_marker(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            -f64::MAX,
            5e-324,
        ];
        round_trip(&at_scrapes(specials.iter().copied().cycle().take(480)));
        // Each float coding on its own, whichever encode_values would pick.
        let cycle: Vec<f64> = specials.iter().copied().cycle().take(100).collect();
        let mut w = BitWriter::default();
        put_xor_values(&mut w, &cycle);
        let xor = w.into_bytes();
        let got = get_xor_values(&mut BitReader::new(&xor), cycle.len()).unwrap();
        assert!(
            got.iter()
                .zip(&cycle)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        round_trip(&at_scrapes([f64::NAN; 7]));
        round_trip(&at_scrapes([stale_marker()]));
        round_trip(&at_scrapes([-0.0, -0.0]));
    }

    #[test]
    fn mixed_chunks_keep_special_values_apart_from_the_decimals() {
        let mut values: Vec<f64> = (0..480).map(|i| i as f64 * 0.25).collect();
        values[0] = stale_marker();
        values[1] = -0.0;
        values[300] = f64::NAN;
        values[479] = stale_marker();
        let (bytes, kind) = round_trip(&at_scrapes(values.clone()));
        assert_eq!(kind, VALUES_DECIMAL);
        assert!(bytes < 64, "{bytes} bytes");
        // One value with too many digits: the whole chunk is floats.
        values[200] = std::f64::consts::PI;
        assert_ne!(round_trip(&at_scrapes(values)).1, VALUES_DECIMAL);
        let mixed: Vec<f64> = (0..480)
            .map(|i| if i % 3 == 0 { -1e15 } else { i as f64 * -0.5 })
            .collect();
        round_trip(&at_scrapes(mixed));
        let huge: Vec<f64> = (0..480).map(|i| 1e300 + i as f64).collect();
        round_trip(&at_scrapes(huge));
        let mut t = 0;
        let mut x = 5u64;
        let irregular: Vec<Sample> = (0..480)
            .map(|i| {
                t += 1 + (xorshift(&mut x) % 100_000) as i64;
                Sample { t, v: i as f64 }
            })
            .collect();
        round_trip(&irregular);
    }

    #[test]
    fn a_time_column_is_shared_only_by_the_same_times() {
        let samples = at_scrapes((0..480).map(|i| i as f64));
        let column = encode_times(&samples);
        assert!(same_times(&column, &samples));
        let mut moved = samples.clone();
        moved[479].t += 1;
        assert!(!same_times(&column, &moved));
        assert!(!same_times(&column, &samples[1..]));
        // A chunk reads as many times as it has samples, so a column whose first times
        // are a shorter chunk's may serve it too.
        assert!(same_times(&column, &samples[..479]));
        assert!(!same_times(&column[..column.len() / 2], &samples));
    }

    #[test]
    fn malformed_columns_decode_to_none_not_a_panic() {
        let samples = at_scrapes((0..100).map(|i| i as f64 * 1.5));
        let times = encode_times(&samples);
        let values = encode_values(&samples.iter().map(|s| s.v).collect::<Vec<_>>());
        for cut in 0..values.len() {
            let _ = decode_chunk(&values[..cut], &times, 100);
        }
        for cut in 0..times.len() {
            let _ = decode_chunk(&values, &times[..cut], 100);
        }
        let mut x = 11u64;
        for _ in 0..2000 {
            let junk: Vec<u8> = (0..(xorshift(&mut x) % 64))
                .map(|_| xorshift(&mut x) as u8)
                .collect();
            let _ = decode_chunk(&junk, &junk, (xorshift(&mut x) % 500) as u16);
        }
        assert!(chunk_parts(&[1, 2, 3]).is_none());
    }

    /// Bytes per sample of each kind of series in `bench/metrics.py`'s workload, from the
    /// raw samples `metrics.py series-dump` writes: format 3 (one chunk, times inline)
    /// against format 4 (values in the chunk, each distinct time column once).
    #[test]
    #[ignore = "measurement: PHAROS_SERIES_DUMP=/tmp/x/series.bin cargo test --release -p pharos-tsdb --lib -- --ignored --nocapture metrics_py_workload"]
    fn metrics_py_workload() {
        let Some(path) = std::env::var_os("PHAROS_SERIES_DUMP") else {
            eprintln!("PHAROS_SERIES_DUMP not set");
            return;
        };
        let raw = std::fs::read(path).unwrap();
        let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().unwrap()) as usize;
        let (n, steps, targets) = (u32_at(0), u32_at(4), u32_at(8));
        let kinds = &raw[12..12 + n];
        let target_of: Vec<usize> = (0..n).map(|i| u32_at(12 + n + 4 * i)).collect();
        let mut at = 12 + 5 * n;
        let mut series: Vec<Vec<Sample>> = vec![Vec::with_capacity(steps); n];
        for _ in 0..steps {
            let ts: Vec<i64> = (0..targets)
                .map(|i| i64::from_le_bytes(raw[at + 8 * i..at + 8 * i + 8].try_into().unwrap()))
                .collect();
            at += 8 * targets;
            for (i, s) in series.iter_mut().enumerate() {
                let v = f64::from_le_bytes(raw[at + 8 * i..at + 8 * i + 8].try_into().unwrap());
                s.push(Sample {
                    t: ts[target_of[i]],
                    v,
                });
            }
            at += 8 * n;
        }
        let names = [
            "counter", "cpu", "mem", "small", "const", "bucket", "hsum", "quant", "gaugef",
        ];
        let mut old = [0usize; 9];
        let mut new = [0usize; 9];
        let mut count = [0usize; 9];
        let mut columns = std::collections::HashSet::new();
        let mut times_bytes = 0;
        let (mut old_secs, mut new_secs, mut decode_secs, mut decoded) = (0.0, 0.0, 0.0, 0);
        for (s, &k) in series.iter().zip(kinds) {
            let k = k as usize;
            count[k] += 1;
            for part in s.chunks(480) {
                let start = std::time::Instant::now();
                old[k] += crate::chunk::encode_block_chunk(part).len();
                old_secs += start.elapsed().as_secs_f64();
                let start = std::time::Instant::now();
                let values: Vec<f64> = part.iter().map(|s| s.v).collect();
                let times = encode_times(part);
                let chunk = encode_chunk(&encode_values(&values), 1 << 20, times.len());
                new_secs += start.elapsed().as_secs_f64();
                let start = std::time::Instant::now();
                let (_, _, vals) = chunk_parts(&chunk).unwrap();
                decoded += decode_chunk(vals, &times, part.len() as u16).unwrap().len();
                decode_secs += start.elapsed().as_secs_f64();
                new[k] += chunk.len();
                if columns.insert(times.clone()) {
                    times_bytes += times.len();
                }
            }
        }
        let per = |b: usize, series: usize| b as f64 / (series * steps).max(1) as f64;
        println!("{n} series x {steps} samples, {targets} targets");
        println!("kind     series  format 3  format 4 (values + chunk header)");
        for k in 0..9 {
            println!(
                "{:8} {:6} {:9.3} {:9.3}",
                names[k],
                count[k],
                per(old[k], count[k]),
                per(new[k], count[k])
            );
        }
        let (o, w): (usize, usize) = (old.iter().sum(), new.iter().sum());
        println!(
            "all      {n:6} {:9.3} {:9.3} + {:.3} for {} time columns = {:.3}",
            per(o, n),
            per(w, n),
            per(times_bytes, n),
            columns.len(),
            per(w + times_bytes, n)
        );
        let ns = |secs: f64| secs * 1e9 / (n * steps) as f64;
        println!(
            "encoding: format 3 {:.0} ns/sample, format 4 {:.0} ns/sample; format 4 decoding {:.0} ns/sample",
            ns(old_secs),
            ns(new_secs),
            decode_secs * 1e9 / decoded as f64
        );
    }
}
