//! Immutable blocks: the data of one time range, written once by compaction and read
//! with positional reads. A block is a directory `blocks/<min>-<max>-<n>/` with
//! - `chunks`: the chunks of every series, back to back, each led by a byte naming its
//!   encoding (Gorilla XOR, or scaled decimals with delta-of-delta: see `chunk.rs`);
//! - `index`: series labels and, per series, its chunks' time ranges, sample counts,
//!   offsets and lengths (varint-encoded, CRC-32 at the end);
//! - `meta.json`: time range, counts, compaction level (written last: a directory without
//!   it is an unfinished write and is removed on open).
//!
//! A block's index (labels and chunk references, not samples) is held in memory with
//! its postings, so selectors over old data cost what they cost over the head.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pharos_model::series::{LabelMatcher, LabelSet, MatchOp, Sample};
use serde::{Deserialize, Serialize};

use crate::TsdbError;
use crate::chunk::{ChunkIter, decode_block_chunk, encode_block_chunk};
use crate::codec::{Reader, put_str, put_varint, unzigzag, zigzag};

/// Samples per chunk in a block.
const BLOCK_CHUNK_SAMPLES: usize = 480;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockMeta {
    pub min_t: i64,
    /// Exclusive.
    pub max_t: i64,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub level: u32,
    /// 1: bare XOR chunks; 2: chunks led by their encoding byte.
    #[serde(default = "first_format")]
    pub format: u32,
}

const FORMAT: u32 = 2;

fn first_format() -> u32 {
    1
}

#[derive(Clone, Copy, Debug)]
pub struct ChunkRef {
    pub min_t: i64,
    pub max_t: i64,
    pub count: u16,
    pub offset: u64,
    pub len: u32,
}

pub struct BlockSeries {
    pub labels: LabelSet,
    pub chunks: Vec<ChunkRef>,
}

pub struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    pub series: Vec<BlockSeries>,
    postings: BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    chunks: File,
    pub disk_bytes: u64,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> TsdbError {
    move |source| TsdbError::Io { context, source }
}

/// Writes a block from series and their samples (each sorted by time, within
/// `[min_t, max_t)`); returns its directory, or `None` when there was nothing to write.
pub fn write(
    blocks_dir: &Path,
    min_t: i64,
    max_t: i64,
    level: u32,
    series: impl Iterator<Item = (LabelSet, Vec<Sample>)>,
) -> Result<Option<PathBuf>, TsdbError> {
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
    let mut chunk_file = std::io::BufWriter::new(
        File::create(tmp.join("chunks")).map_err(io("creating block chunks".into()))?,
    );
    let mut index = Vec::new();
    let mut sorted: Vec<(LabelSet, Vec<Sample>)> = series.filter(|(_, s)| !s.is_empty()).collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut meta = BlockMeta {
        min_t,
        max_t,
        series: 0,
        samples: 0,
        chunks: 0,
        chunk_bytes: 0,
        level,
        format: FORMAT,
    };
    put_varint(&mut index, sorted.len() as u64);
    let mut offset = 0u64;
    for (labels, samples) in &sorted {
        put_varint(&mut index, labels.len() as u64);
        for l in labels.iter() {
            put_str(&mut index, &l.name);
            put_str(&mut index, &l.value);
        }
        // Blocks are read a whole chunk at a time; longer chunks than the head's cut the
        // per-chunk header cost.
        let parts: Vec<&[Sample]> = samples.chunks(BLOCK_CHUNK_SAMPLES).collect();
        put_varint(&mut index, parts.len() as u64);
        for part in parts {
            let bytes = encode_block_chunk(part);
            chunk_file
                .write_all(&bytes)
                .map_err(io("writing block chunks".into()))?;
            let (min, max) = (part[0].t, part[part.len() - 1].t);
            put_varint(&mut index, zigzag(min));
            put_varint(&mut index, (max - min) as u64);
            put_varint(&mut index, part.len() as u64);
            put_varint(&mut index, offset);
            put_varint(&mut index, bytes.len() as u64);
            offset += bytes.len() as u64;
            meta.chunks += 1;
            meta.samples += part.len() as u64;
        }
        meta.series += 1;
    }
    if meta.series == 0 {
        drop(chunk_file);
        let _ = fs::remove_dir_all(&tmp);
        return Ok(None);
    }
    meta.chunk_bytes = offset;
    let crc = crc32fast::hash(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    let file = chunk_file.into_inner().map_err(|e| TsdbError::Io {
        context: "writing block chunks".into(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io("syncing block chunks".into()))?;
    let mut f = File::create(tmp.join("index")).map_err(io("creating block index".into()))?;
    f.write_all(&index)
        .and_then(|_| f.sync_all())
        .map_err(io("writing block index".into()))?;
    let mut f = File::create(tmp.join("meta.json")).map_err(io("creating block meta".into()))?;
    f.write_all(&serde_json::to_vec_pretty(&meta).expect("meta serializes"))
        .and_then(|_| f.sync_all())
        .map_err(io("writing block meta".into()))?;
    let dest = blocks_dir.join(&name);
    fs::rename(&tmp, &dest).map_err(io(format!("renaming {}", tmp.display())))?;
    if let Ok(d) = File::open(blocks_dir) {
        let _ = d.sync_all();
    }
    Ok(Some(dest))
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
        let raw =
            fs::read(dir.join("index")).map_err(io(format!("reading {}/index", dir.display())))?;
        if raw.len() < 4 {
            return Err(corrupt("index too short".into()));
        }
        let (body, crc) = raw.split_at(raw.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(corrupt("index checksum mismatch".into()));
        }
        let mut r = Reader::new(body);
        let bad = || corrupt("index truncated".into());
        let n = r.varint().ok_or_else(bad)? as usize;
        let mut series = Vec::with_capacity(n);
        let mut postings: BTreeMap<String, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
        for id in 0..n as u64 {
            let nl = r.varint().ok_or_else(bad)? as usize;
            let mut pairs = Vec::with_capacity(nl);
            for _ in 0..nl {
                pairs.push((r.string().ok_or_else(bad)?, r.string().ok_or_else(bad)?));
            }
            let labels = LabelSet::new(pairs);
            for l in labels.iter() {
                postings
                    .entry(l.name.clone())
                    .or_default()
                    .entry(l.value.clone())
                    .or_default()
                    .push(id);
            }
            let nc = r.varint().ok_or_else(bad)? as usize;
            let mut chunks = Vec::with_capacity(nc);
            for _ in 0..nc {
                let min_t = unzigzag(r.varint().ok_or_else(bad)?);
                let span = r.varint().ok_or_else(bad)? as i64;
                let count = r.varint().ok_or_else(bad)? as u16;
                let offset = r.varint().ok_or_else(bad)?;
                let len = r.varint().ok_or_else(bad)? as u32;
                chunks.push(ChunkRef {
                    min_t,
                    max_t: min_t + span,
                    count,
                    offset,
                    len,
                });
            }
            series.push(BlockSeries { labels, chunks });
        }
        let chunks = File::open(dir.join("chunks"))
            .map_err(io(format!("opening {}/chunks", dir.display())))?;
        let disk_bytes = ["chunks", "index", "meta.json"]
            .iter()
            .filter_map(|f| fs::metadata(dir.join(f)).ok())
            .map(|m| m.len())
            .sum();
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            series,
            postings,
            chunks,
            disk_bytes,
        })
    }

    pub fn select(&self, matchers: &[LabelMatcher]) -> Vec<u64> {
        let cands = candidates(&self.postings, matchers)
            .unwrap_or_else(|| (0..self.series.len() as u64).collect());
        cands
            .into_iter()
            .filter(|&id| {
                matchers
                    .iter()
                    .all(|m| m.matches_labels(&self.series[id as usize].labels))
            })
            .collect()
    }

    /// Samples of one series within `[mint, maxt]`.
    pub fn samples(
        &self,
        id: u64,
        mint: i64,
        maxt: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), TsdbError> {
        let mut buf = Vec::new();
        for c in &self.series[id as usize].chunks {
            if c.max_t < mint || c.min_t > maxt {
                continue;
            }
            buf.resize(c.len as usize, 0);
            self.chunks
                .read_exact_at(&mut buf, c.offset)
                .map_err(io(format!("reading {}/chunks", self.dir.display())))?;
            let keep = |s: &Sample| s.t >= mint && s.t <= maxt;
            if self.meta.format == 1 {
                out.extend(ChunkIter::new(&buf, c.count).filter(keep));
            } else {
                out.extend(decode_block_chunk(&buf, c.count).filter(keep));
            }
        }
        Ok(())
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.meta.max_t > mint && self.meta.min_t <= maxt
    }
}

/// A narrowed candidate list from the postings (the smallest from any matcher that
/// cannot match an empty value), or `None` when every matcher matches the empty value.
fn candidates(
    postings: &BTreeMap<String, BTreeMap<String, Vec<u64>>>,
    matchers: &[LabelMatcher],
) -> Option<Vec<u64>> {
    let mut best: Option<Vec<u64>> = None;
    for m in matchers {
        if m.matches_empty() {
            continue;
        }
        let Some(values) = postings.get(&m.name) else {
            return Some(Vec::new());
        };
        let list: Vec<u64> = match m.op {
            MatchOp::Equal => values.get(&m.value).cloned().unwrap_or_default(),
            _ => {
                let mut ids: Vec<u64> = values
                    .iter()
                    .filter(|(v, _)| m.matches(v))
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
    best
}
