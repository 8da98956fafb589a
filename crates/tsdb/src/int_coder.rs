//! The integer sequence coder behind time columns and integer value columns. Each
//! sequence is coded as residuals from whichever prediction is smallest for the chunk:
//! order 0 (`x[i] - x[0] - i·slope`: jittered scrape times around a fixed interval), order
//! 1 (`x[i] - x[i-1] - bias`: counters and random walks), order 2 (deltas of deltas: smooth
//! curves); divided by their common factor (gauges in 4 KiB pages, decimals in steps of
//! 5); then Rice codes with the best parameter, or runs of zeros and Rice codes for sparse
//! changes (a counter of errors, a constant).

use crate::chunk::{BitReader, BitWriter, read_varint, write_varint};

/// A unary prefix this long announces a raw 64-bit value (a Rice code would be longer).
const ESCAPE: u64 = 24;

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
pub fn put_ints(w: &mut BitWriter, xs: &[i64]) {
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
pub fn get_ints(r: &mut BitReader<'_>, n: usize) -> Option<Vec<i64>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
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
}
