//! Block chunks as two columns (block format 4). The times go to the block's `times` file,
//! once for all the series that share them: every series of one scrape target carries
//! the same scrape timestamps, so a 2 h block holds about one time column per target and
//! chunk span, and a series' chunk only points at it. The values stay in the chunk, either
//! as scaled decimal integers (when every value is exactly `i / 10^k`, as scraped text
//! mostly is) or as Gorilla XOR of the values alone.
//!
//! Times, decimal values and float bit patterns are integer sequences, coded by
//! [`crate::int_coder`]. Special values (NaN and the staleness marker, infinities, -0.0)
//! in an otherwise decimal chunk are kept apart with their exact bits.

use pharos_model::series::Sample;

use crate::chunk::{BitReader, BitWriter, read_varint, write_varint};
use crate::int_coder::{get_ints, put_ints};

/// First byte of a format-4 block chunk; the XOR (1) and decimal (2) chunks of format 3,
/// with their times inline, are decoded by `chunk.rs`.
pub const ENCODING_COLUMNS: u8 = 3;

/// First byte of a value column.
const VALUES_XOR: u8 = 0;
const VALUES_DECIMAL: u8 = 1;
/// The values' bit patterns as integers: for floats that drift (a histogram's `_sum`)
/// the integer difference of neighbours is shorter than their XOR.
const VALUES_FLOAT_BITS: u8 = 2;

/// Exact powers of ten (every one is representable), so that `i / 10^k` is the one
/// correctly rounded double both when encoding and when decoding.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Values no decimal scale can hold but whose exact bits must survive.
fn is_exception(v: f64) -> bool {
    !v.is_finite() || (v == 0.0 && v.is_sign_negative())
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
