//! One UTC day of entries: a tantivy index under `<dir>/<yyyy-mm-dd>/`, its schema, the
//! document each entry becomes, its reader and (while the day receives entries) its
//! writer. The entry itself is stored once, as the JSON the WAL holds, in the lz4
//! docstore; every other field is indexed only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use pharos_model::LogEntry;
use serde_json::Value;
use tantivy::schema::document::CompactDocValue;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, OwnedValue, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::store::Compressor;
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument};

use crate::error::LogStoreError;
use crate::query::{level_field_value, number_like};

#[derive(Clone)]
pub(crate) struct LogSchema {
    pub schema: Schema,
    pub seq: Field,
    pub time: Field,
    pub level: Field,
    pub service: Field,
    pub logger: Field,
    pub host: Field,
    pub source: Field,
    pub trace_id: Field,
    pub request_id: Field,
    pub message: Field,
    pub fields: Field,
    pub raw: Field,
}

impl LogSchema {
    pub(crate) fn new() -> LogSchema {
        let mut b = Schema::builder();
        let seq = b.add_u64_field("seq", INDEXED | FAST);
        let time = b.add_i64_field("time", FAST);
        let level = b.add_u64_field("level", INDEXED | FAST);
        // Fast columns where counting by the field is common; ids are looked up only.
        let service = b.add_text_field("service", STRING | FAST);
        let logger = b.add_text_field("logger", STRING | FAST);
        let host = b.add_text_field("host", STRING | FAST);
        let source = b.add_text_field("source", STRING | FAST);
        let trace_id = b.add_text_field("trace_id", STRING);
        let request_id = b.add_text_field("request_id", STRING);
        let message = b.add_text_field(
            "message",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("default")
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        );
        let fields = b.add_json_field(
            "fields",
            JsonObjectOptions::default()
                .set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer("raw")
                        .set_index_option(IndexRecordOption::Basic),
                )
                .set_fast("raw")
                .set_expand_dots_enabled(),
        );
        let raw = b.add_bytes_field("raw", STORED);
        LogSchema {
            schema: b.build(),
            seq,
            time,
            level,
            service,
            logger,
            host,
            source,
            trace_id,
            request_id,
            message,
            fields,
            raw,
        }
    }

    /// `raw` is the entry's JSON, exactly as the WAL holds it.
    pub(crate) fn document(&self, seq: u64, entry: &LogEntry, raw: &[u8]) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_u64(self.seq, seq);
        d.add_i64(self.time, time_ns(entry.time));
        d.add_u64(self.level, level_field_value(entry.level));
        d.add_text(self.service, &entry.service);
        if let Some(v) = &entry.logger {
            d.add_text(self.logger, v);
        }
        if let Some(v) = &entry.host {
            d.add_text(self.host, v);
        }
        d.add_text(self.source, entry.source.as_str());
        if let Some(v) = &entry.trace_id {
            d.add_text(self.trace_id, v);
        }
        if let Some(v) = entry.request_id() {
            d.add_text(self.request_id, v);
        }
        d.add_text(self.message, &entry.message);
        if !entry.fields.is_empty() {
            let object: BTreeMap<String, OwnedValue> = entry
                .fields
                .iter()
                // `request_id` has its own field (and `request_id=` always searches that);
                // a unique string per line is the costliest thing to index twice.
                .filter(|(k, v)| !(*k == "request_id" && v.is_string()))
                .filter_map(|(k, v)| Some((k.clone(), indexed_value(v)?)))
                .collect();
            d.add_object(self.fields, object);
        }
        d.add_bytes(self.raw, raw);
        d
    }
}

pub(crate) fn raw_field_bytes(doc: &TantivyDocument, raw: Field) -> Option<&[u8]> {
    doc.get_first(raw)
        .and_then(|v: CompactDocValue<'_>| v.as_bytes())
}

/// Field values as the index sees them: numbers written as strings become numbers (so
/// `duration_ms>1000` finds logfmt's `"1234"` too) and booleans become `"true"`/`"false"`;
/// the in-memory matcher applies the same rules.
fn indexed_value(v: &Value) -> Option<OwnedValue> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => OwnedValue::Str(if *b { "true" } else { "false" }.to_string()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                OwnedValue::I64(i)
            } else if let Some(u) = n.as_u64() {
                OwnedValue::U64(u)
            } else {
                OwnedValue::F64(n.as_f64()?)
            }
        }
        Value::String(s) => match number_like(s) {
            Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => OwnedValue::I64(n as i64),
            Some(n) => OwnedValue::F64(n),
            None => OwnedValue::Str(s.clone()),
        },
        Value::Array(items) => OwnedValue::Array(items.iter().filter_map(indexed_value).collect()),
        Value::Object(map) => OwnedValue::Object(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), indexed_value(v)?)))
                .collect(),
        ),
    })
}

pub(crate) fn time_ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(crate) fn from_ns(ns: i64) -> DateTime<Utc> {
    Utc.timestamp_nanos(ns)
}

pub(crate) fn day_of(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

pub(crate) fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

pub(crate) struct Partition {
    pub day: NaiveDate,
    pub dir: PathBuf,
    pub index: Index,
    pub reader: IndexReader,
    pub writer: Mutex<Option<OpenWriter>>,
    /// Highest sequence number whose entries for this day are committed.
    pub committed_seq: std::sync::atomic::AtomicU64,
}

pub(crate) struct OpenWriter {
    pub writer: IndexWriter,
    pub dirty: bool,
    pub last_used: Instant,
}

impl Partition {
    pub(crate) fn open_or_create(
        root: &Path,
        day: NaiveDate,
        schema: &LogSchema,
    ) -> Result<Partition, LogStoreError> {
        let dir = root.join(day.format("%Y-%m-%d").to_string());
        std::fs::create_dir_all(&dir).map_err(|e| LogStoreError::io(&dir, e))?;
        let settings = IndexSettings {
            docstore_compression: Compressor::Lz4,
            // Bigger blocks compress log lines better; a `get` decompresses one block.
            docstore_blocksize: 64 * 1024,
            ..IndexSettings::default()
        };
        let index = if dir.join("meta.json").exists() {
            Index::open_in_dir(&dir)?
        } else {
            Index::builder()
                .schema(schema.schema.clone())
                .settings(settings)
                .create_in_dir(&dir)?
        };
        let committed = index
            .load_metas()?
            .payload
            .and_then(|p| p.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Partition {
            day,
            dir,
            index,
            reader,
            writer: Mutex::new(None),
            committed_seq: std::sync::atomic::AtomicU64::new(committed),
        })
    }

    pub(crate) fn bytes_on_disk(&self) -> u64 {
        dir_size(&self.dir)
    }
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

pub(crate) fn parse_day_dir(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()
}
