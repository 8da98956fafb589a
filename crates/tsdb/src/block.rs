//! Immutable blocks: the data of one time range, written once by compaction and read
//! with positional reads. A block is a directory `blocks/<min>-<max>-<n>/` with
//! - `chunks`: the chunks of every series, back to back in series order, each led by a
//!   byte naming its encoding: since format 4 a value column and a pointer to the chunk's
//!   time column (`column.rs`); format 3's Gorilla XOR or scaled-decimal chunks with
//!   their times inline (`chunk.rs`) are still read;
//! - `times` (format 4): time columns, each written once however many series' chunks
//!   share it, as every series of a scrape target does;
//! - `index`: the symbol table (every label string once, sorted), then per series (in
//!   label order, up to the end) its labels as symbol ids, the offset of its first
//!   chunk, and per chunk its first time, time span, sample count and length; varints,
//!   CRC-32 at the end;
//! - `meta.json`: time range, counts, compaction level, format (written last: a directory
//!   without it is an unfinished write and is removed on open).
//!
//! In memory a block keeps the symbols, the index bytes as they are on disk (a series'
//! entry is decoded when a query needs it) and postings of series numbers, so an old
//! block costs tens of bytes per series, and selectors over old data cost what they cost
//! over the head. Blocks are written one series at a time: compaction never holds more
//! than one series' samples.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pharos_model::series::{Label, LabelMatcher, LabelSet, MatchOp, Sample};
use serde::{Deserialize, Serialize};

use crate::TsdbError;
use crate::chunk::decode_block_chunk;
use crate::codec::{Reader, put_str, put_varint, unzigzag, zigzag};
use crate::column;

/// Samples per chunk in a block: blocks are read a whole chunk at a time, and longer
/// chunks than the head's cut the per-chunk header cost.
const BLOCK_CHUNK_SAMPLES: usize = 480;

/// The layout this code writes (see the module doc).
pub(crate) const FORMAT: u32 = 4;
/// The layout before time columns, still read.
const FORMAT_INLINE_TIMES: u32 = 3;

/// Bytes of distinct time columns a writer remembers to share. Scrape targets share
/// their times, so a block needs a few per target; series that each have their own
/// (pushed with client timestamps) would otherwise grow the map with the block.
const SHARED_TIMES_BYTES: usize = 16 << 20;

/// A `times` file up to this size is kept in memory: shared columns make it a few bytes
/// per series, and a query then reads one chunk with one read instead of two.
const TIMES_IN_MEMORY_BYTES: u64 = 4 << 20;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockMeta {
    pub min_t: i64,
    /// Exclusive.
    pub max_t: i64,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    /// The `times` file (format 4).
    #[serde(default)]
    pub times_bytes: u64,
    pub level: u32,
    #[serde(default)]
    pub format: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct ChunkRef {
    pub min_t: i64,
    pub max_t: i64,
    pub count: u16,
    pub offset: u64,
    pub len: u32,
}

pub struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    symbols: Vec<Box<str>>,
    index: Box<[u8]>,
    /// Where each series' entry starts in `index`.
    series_at: Vec<u32>,
    /// Name symbol → value symbol → series numbers (ascending).
    postings: HashMap<u32, HashMap<u32, Vec<u32>>>,
    chunks: File,
    /// Format 4's time columns.
    times: Option<Times>,
    pub disk_bytes: u64,
}

enum Times {
    Memory(Box<[u8]>),
    File(File),
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> TsdbError {
    move |source| TsdbError::Io { context, source }
}

/// Writes a block one series at a time, in label order, into a temporary directory that
/// `finish` renames into place.
pub struct BlockWriter {
    blocks_dir: PathBuf,
    name: String,
    tmp: PathBuf,
    chunk_file: BufWriter<File>,
    times_file: BufWriter<File>,
    /// Time columns written so far by a hash of their times: the encoded column and its
    /// offset in `times`. Found by the raw times, a shared column is not encoded again.
    shared_times: HashMap<u64, Vec<(Vec<u8>, u64)>>,
    shared_times_bytes: usize,
    symbols: Vec<String>,
    index_file: BufWriter<File>,
    index_crc: crc32fast::Hasher,
    meta: BlockMeta,
    last: Option<LabelSet>,
}

impl BlockWriter {
    /// `symbols`: every label string of the series to come (more is harmless), sorted and
    /// without duplicates.
    pub fn create(
        blocks_dir: &Path,
        min_t: i64,
        max_t: i64,
        level: u32,
        symbols: Vec<String>,
    ) -> Result<BlockWriter, TsdbError> {
        debug_assert!(symbols.windows(2).all(|w| w[0] < w[1]));
        let mut n = 0;
        let name = loop {
            let name = format!("{min_t}-{max_t}-{n}");
            if !blocks_dir.join(&name).exists() {
                break name;
            }
            n += 1;
        };
        let tmp = blocks_dir.join(format!("{name}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(io(format!("creating {}", tmp.display())))?;
        let chunk_file = BufWriter::new(
            File::create(tmp.join("chunks")).map_err(io("creating block chunks".into()))?,
        );
        let index_file = BufWriter::new(
            File::create(tmp.join("index")).map_err(io("creating block index".into()))?,
        );
        let times_file = BufWriter::new(
            File::create(tmp.join("times")).map_err(io("creating block times".into()))?,
        );
        let mut table = Vec::new();
        put_varint(&mut table, symbols.len() as u64);
        for s in &symbols {
            put_str(&mut table, s);
        }
        let mut w = BlockWriter {
            blocks_dir: blocks_dir.to_path_buf(),
            name,
            tmp,
            chunk_file,
            times_file,
            shared_times: HashMap::new(),
            shared_times_bytes: 0,
            symbols,
            index_file,
            index_crc: crc32fast::Hasher::new(),
            meta: BlockMeta {
                min_t,
                max_t,
                series: 0,
                samples: 0,
                chunks: 0,
                chunk_bytes: 0,
                times_bytes: 0,
                level,
                format: FORMAT,
            },
            last: None,
        };
        w.write_index(&table)?;
        Ok(w)
    }

    fn write_index(&mut self, bytes: &[u8]) -> Result<(), TsdbError> {
        self.index_crc.update(bytes);
        self.index_file
            .write_all(bytes)
            .map_err(io("writing block index".into()))
    }

    fn symbol(&self, s: &str) -> Result<u32, TsdbError> {
        self.symbols
            .binary_search_by(|x| x.as_str().cmp(s))
            .map(|i| i as u32)
            .map_err(|_| TsdbError::Corrupt {
                path: self.tmp.display().to_string(),
                message: format!("label string {s:?} missing from the symbol table"),
            })
    }

    /// Adds a series (after every series with smaller labels) and its samples, sorted by
    /// time; a series without samples is skipped.
    pub fn add_series(&mut self, labels: &LabelSet, samples: &[Sample]) -> Result<(), TsdbError> {
        if samples.is_empty() {
            return Ok(());
        }
        debug_assert!(self.last.as_ref().is_none_or(|l| l < labels));
        let e = &mut Vec::with_capacity(32);
        put_varint(e, labels.len() as u64);
        for l in labels.iter() {
            put_varint(e, self.symbol(&l.name)? as u64);
            put_varint(e, self.symbol(&l.value)? as u64);
        }
        put_varint(e, self.meta.chunk_bytes);
        let parts = samples.chunks(BLOCK_CHUNK_SAMPLES);
        put_varint(e, parts.len() as u64);
        let mut values = Vec::with_capacity(BLOCK_CHUNK_SAMPLES);
        for part in parts {
            let times_offset = self.times_offset(part)?;
            values.clear();
            values.extend(part.iter().map(|s| s.v));
            let bytes = column::encode_chunk(
                &column::encode_values(&values),
                times_offset.0,
                times_offset.1,
            );
            self.chunk_file
                .write_all(&bytes)
                .map_err(io("writing block chunks".into()))?;
            let (min, max) = (part[0].t, part[part.len() - 1].t);
            put_varint(e, zigzag(min));
            put_varint(e, max.wrapping_sub(min) as u64);
            put_varint(e, part.len() as u64);
            put_varint(e, bytes.len() as u64);
            self.meta.chunk_bytes += bytes.len() as u64;
            self.meta.chunks += 1;
            self.meta.samples += part.len() as u64;
        }
        self.write_index(e)?;
        self.meta.series += 1;
        if cfg!(debug_assertions) {
            self.last = Some(labels.clone());
        }
        Ok(())
    }

    /// Where a time column is in `times` (offset, length): where it was written before,
    /// or appended now.
    fn times_offset(&mut self, samples: &[Sample]) -> Result<(u64, usize), TsdbError> {
        let key = samples.iter().fold(samples.len() as u64, |h, s| {
            (h.rotate_left(5) ^ s.t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        });
        if let Some((times, at)) = self.shared_times.get(&key).and_then(|columns| {
            columns
                .iter()
                .find(|(times, _)| column::same_times(times, samples))
        }) {
            return Ok((*at, times.len()));
        }
        let times = column::encode_times(samples);
        let at = self.meta.times_bytes;
        self.times_file
            .write_all(&times)
            .map_err(io("writing block times".into()))?;
        self.meta.times_bytes += times.len() as u64;
        let len = times.len();
        if self.shared_times_bytes + len <= SHARED_TIMES_BYTES {
            self.shared_times_bytes += len;
            self.shared_times.entry(key).or_default().push((times, at));
        }
        Ok((at, len))
    }

    /// Syncs the files and renames the directory into place; `None` (and nothing left
    /// behind) when no series had samples.
    pub fn finish(self) -> Result<Option<PathBuf>, TsdbError> {
        let BlockWriter {
            blocks_dir,
            name,
            tmp,
            chunk_file,
            times_file,
            index_file,
            index_crc,
            meta,
            ..
        } = self;
        if meta.series == 0 {
            drop(chunk_file);
            drop(times_file);
            let _ = fs::remove_dir_all(&tmp);
            return Ok(None);
        }
        let sync = |w: BufWriter<File>, what: &str| -> Result<(), TsdbError> {
            let f = w.into_inner().map_err(|e| TsdbError::Io {
                context: format!("writing block {what}"),
                source: e.into_error(),
            })?;
            f.sync_all().map_err(io(format!("syncing block {what}")))
        };
        sync(chunk_file, "chunks")?;
        sync(times_file, "times")?;
        let mut index_file = index_file;
        index_file
            .write_all(&index_crc.finalize().to_le_bytes())
            .map_err(io("writing block index".into()))?;
        sync(index_file, "index")?;
        let mut f =
            File::create(tmp.join("meta.json")).map_err(io("creating block meta".into()))?;
        f.write_all(&serde_json::to_vec_pretty(&meta).expect("meta serializes"))
            .and_then(|_| f.sync_all())
            .map_err(io("writing block meta".into()))?;
        let dest = blocks_dir.join(&name);
        fs::rename(&tmp, &dest).map_err(io(format!("renaming {}", tmp.display())))?;
        if let Ok(d) = File::open(&blocks_dir) {
            let _ = d.sync_all();
        }
        Ok(Some(dest))
    }
}

/// One series' entry in a block index.
struct SeriesEntry {
    labels: Vec<(u32, u32)>,
    chunks: Vec<ChunkRef>,
}

fn read_entry(r: &mut Reader<'_>) -> Option<SeriesEntry> {
    let nl = r.varint()? as usize;
    let mut labels = Vec::with_capacity(nl.min(64));
    for _ in 0..nl {
        labels.push((r.varint()? as u32, r.varint()? as u32));
    }
    let mut offset = r.varint()?;
    let nc = r.varint()? as usize;
    let mut chunks = Vec::with_capacity(nc.min(1024));
    for _ in 0..nc {
        let min_t = unzigzag(r.varint()?);
        let span = r.varint()? as i64;
        let count = r.varint()? as u16;
        let len = r.varint()? as u32;
        chunks.push(ChunkRef {
            min_t,
            max_t: min_t.wrapping_add(span),
            count,
            offset,
            len,
        });
        offset += len as u64;
    }
    Some(SeriesEntry { labels, chunks })
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block, TsdbError> {
        let corrupt = |message: String| TsdbError::Corrupt {
            path: dir.display().to_string(),
            message,
        };
        let meta: BlockMeta = serde_json::from_slice(
            &fs::read(dir.join("meta.json"))
                .map_err(io(format!("reading {}/meta.json", dir.display())))?,
        )
        .map_err(|e| corrupt(format!("meta.json: {e}")))?;
        if meta.format != FORMAT && meta.format != FORMAT_INLINE_TIMES {
            return Err(corrupt(format!(
                "block format {} (this version reads {FORMAT_INLINE_TIMES} and {FORMAT})",
                meta.format
            )));
        }
        let mut raw =
            fs::read(dir.join("index")).map_err(io(format!("reading {}/index", dir.display())))?;
        if raw.len() < 4 {
            return Err(corrupt("index too short".into()));
        }
        let crc = raw.split_off(raw.len() - 4);
        if crc32fast::hash(&raw) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(corrupt("index checksum mismatch".into()));
        }
        let bad = || corrupt("index truncated".into());
        let mut r = Reader::new(&raw);
        let ns = r.varint().ok_or_else(bad)? as usize;
        let mut symbols = Vec::with_capacity(ns.min(1 << 20));
        for _ in 0..ns {
            symbols.push(r.string().ok_or_else(bad)?.into_boxed_str());
        }
        let mut series_at = Vec::with_capacity(meta.series.min(1 << 24) as usize);
        let mut postings: HashMap<u32, HashMap<u32, Vec<u32>>> = HashMap::new();
        let mut id = 0u32;
        while r.pos < raw.len() {
            series_at.push(r.pos as u32);
            let e = read_entry(&mut r).ok_or_else(bad)?;
            for (name, value) in e.labels {
                if name as usize >= symbols.len() || value as usize >= symbols.len() {
                    return Err(corrupt("a series refers to a missing symbol".into()));
                }
                postings
                    .entry(name)
                    .or_default()
                    .entry(value)
                    .or_default()
                    .push(id);
            }
            id += 1;
        }
        let chunks = File::open(dir.join("chunks"))
            .map_err(io(format!("opening {}/chunks", dir.display())))?;
        let times = if meta.format >= FORMAT {
            let path = dir.join("times");
            let context = || format!("reading {}", path.display());
            let file = File::open(&path).map_err(io(context()))?;
            let len = file.metadata().map_err(io(context()))?.len();
            Some(if len <= TIMES_IN_MEMORY_BYTES {
                Times::Memory(fs::read(&path).map_err(io(context()))?.into_boxed_slice())
            } else {
                Times::File(file)
            })
        } else {
            None
        };
        let disk_bytes = ["chunks", "times", "index", "meta.json"]
            .iter()
            .filter_map(|f| fs::metadata(dir.join(f)).ok())
            .map(|m| m.len())
            .sum();
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            symbols,
            index: raw.into_boxed_slice(),
            series_at,
            postings,
            chunks,
            times,
            disk_bytes,
        })
    }

    fn entry(&self, id: u32) -> SeriesEntry {
        let mut r = Reader::new(&self.index);
        r.pos = self.series_at[id as usize] as usize;
        // Checked by `open`; the bytes are immutable since.
        read_entry(&mut r).expect("block index entry checked on open")
    }

    fn symbol(&self, s: &str) -> Option<u32> {
        self.symbols
            .binary_search_by(|x| (**x).cmp(s))
            .ok()
            .map(|i| i as u32)
    }

    pub fn series_count(&self) -> u32 {
        self.series_at.len() as u32
    }

    /// The block's label strings, sorted.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        self.symbols.iter().map(|s| &**s)
    }

    pub fn labels(&self, id: u32) -> LabelSet {
        LabelSet::from_sorted(
            self.entry(id)
                .labels
                .into_iter()
                .map(|(n, v)| Label {
                    name: self.symbols[n as usize].to_string(),
                    value: self.symbols[v as usize].to_string(),
                })
                .collect(),
        )
    }

    /// Series numbers matching every matcher, ascending.
    pub fn select(&self, matchers: &[LabelMatcher]) -> Vec<u32> {
        let mut best: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let values = self.symbol(&m.name).and_then(|n| self.postings.get(&n));
            let list = match (values, m.op) {
                (None, _) => Vec::new(),
                (Some(values), MatchOp::Equal) => self
                    .symbol(&m.value)
                    .and_then(|v| values.get(&v))
                    .cloned()
                    .unwrap_or_default(),
                (Some(values), _) => {
                    let mut ids: Vec<u32> = values
                        .iter()
                        .filter(|(v, _)| m.matches(&self.symbols[**v as usize]))
                        .flat_map(|(_, ids)| ids.iter().copied())
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                }
            };
            if best.as_ref().is_none_or(|b| list.len() < b.len()) {
                best = Some(list);
            }
        }
        let candidates = best.unwrap_or_else(|| (0..self.series_count()).collect());
        let resolved: Vec<(Option<u32>, &LabelMatcher)> =
            matchers.iter().map(|m| (self.symbol(&m.name), m)).collect();
        candidates
            .into_iter()
            .filter(|&id| {
                let e = self.entry(id);
                resolved.iter().all(|(name, m)| {
                    let value = name
                        .and_then(|n| e.labels.iter().find(|(sn, _)| *sn == n))
                        .map(|(_, v)| &*self.symbols[*v as usize])
                        .unwrap_or("");
                    m.matches(value)
                })
            })
            .collect()
    }

    /// Samples of one series within `[mint, maxt]`.
    pub fn samples(
        &self,
        id: u32,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), TsdbError> {
        let mut buf = Vec::new();
        let mut times = Vec::new();
        for c in self.entry(id).chunks {
            if c.max_t < mint || c.min_t > maxt {
                continue;
            }
            buf.resize(c.len as usize, 0);
            self.chunks
                .read_exact_at(&mut buf, c.offset)
                .map_err(io(format!("reading {}/chunks", self.dir.display())))?;
            let in_range = |s: &Sample| s.t >= mint && s.t <= maxt;
            match (column::chunk_parts(&buf), &self.times) {
                (Some((at, len, values)), Some(source)) => {
                    let corrupt = || TsdbError::Corrupt {
                        path: self.dir.display().to_string(),
                        message: format!("chunk at {} does not decode", c.offset),
                    };
                    let column = match source {
                        Times::Memory(all) => usize::try_from(at)
                            .ok()
                            .and_then(|at| all.get(at..at.checked_add(len)?))
                            .ok_or_else(corrupt)?,
                        Times::File(file) => {
                            times.resize(len, 0);
                            file.read_exact_at(&mut times, at)
                                .map_err(io(format!("reading {}/times", self.dir.display())))?;
                            &times[..]
                        }
                    };
                    let samples =
                        column::decode_chunk(values, column, c.count).ok_or_else(corrupt)?;
                    out.extend(samples.into_iter().filter(in_range));
                }
                _ => out.extend(decode_block_chunk(&buf, c.count).filter(in_range)),
            }
        }
        Ok(())
    }

    /// Whether a chunk of the series overlaps `[mint, maxt]`.
    pub fn has_chunks_in(&self, id: u32, mint: i64, maxt: i64) -> bool {
        self.entry(id)
            .chunks
            .iter()
            .any(|c| c.max_t >= mint && c.min_t <= maxt)
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.max_t > mint && self.meta.min_t <= maxt
    }

    /// Estimated heap bytes held for this block.
    pub fn heap_bytes(&self) -> usize {
        let symbols: usize = self.symbols.iter().map(|s| 16 + s.len() + 16).sum();
        let postings: usize = self
            .postings
            .values()
            .map(|v| {
                v.capacity() * 33 + v.values().map(|ids| ids.capacity() * 4 + 16).sum::<usize>()
            })
            .sum();
        let times = match &self.times {
            Some(Times::Memory(b)) => b.len(),
            _ => 0,
        };
        symbols + self.index.len() + self.series_at.capacity() * 4 + postings + times
    }
}

/// The sorted union of several blocks' symbols.
pub fn union_symbols<'a>(blocks: impl Iterator<Item = &'a Block>) -> Vec<String> {
    let mut all: BTreeSet<&str> = BTreeSet::new();
    for b in blocks {
        all.extend(b.symbols());
    }
    all.into_iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_columns_are_shared_and_read_alike_from_memory_and_file() {
        let dir = std::env::temp_dir().join(format!("pharos-block-times-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let symbols = ["__name__", "a", "b"].map(String::from).to_vec();
        let mut w = BlockWriter::create(&dir, 0, 20_000_000, 1, symbols).unwrap();
        let samples: Vec<Sample> = (0..1000)
            .map(|i| Sample {
                t: i * 10_000 + i % 3,
                v: i as f64 / 10.0,
            })
            .collect();
        for name in ["a", "b"] {
            let labels = LabelSet::new([("__name__".to_string(), name.to_string())]);
            w.add_series(&labels, &samples).unwrap();
        }
        let path = w.finish().unwrap().unwrap();
        let mut b = Block::open(&path).unwrap();
        assert!(matches!(b.times, Some(Times::Memory(_))));
        assert_eq!(b.meta.chunks, 6);
        let columns: usize = samples
            .chunks(BLOCK_CHUNK_SAMPLES)
            .map(|c| column::encode_times(c).len())
            .sum();
        assert_eq!(
            b.meta.times_bytes, columns as u64,
            "the second series' times are shared"
        );
        let want: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let read = |b: &Block, id| {
            let mut out = Vec::new();
            b.samples(id, i64::MIN, i64::MAX, &mut out).unwrap();
            out.iter().map(|s| (s.t, s.v.to_bits())).collect::<Vec<_>>()
        };
        assert_eq!(read(&b, 1), want);
        b.times = Some(Times::File(File::open(path.join("times")).unwrap()));
        assert_eq!(read(&b, 0), want);
        assert_eq!(read(&b, 1), want);
        let _ = fs::remove_dir_all(&dir);
    }
}
