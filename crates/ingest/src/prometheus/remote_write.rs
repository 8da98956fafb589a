//! Prometheus remote_write 1.0: a snappy-compressed (block format, not framed)
//! `prometheus.WriteRequest` protobuf. The message types are declared here by hand with
//! prost's derive, field numbers as in Prometheus's `prompb`, so no `protoc` is needed.

use pharos_model::series::{LabelSet, Sample};

/// Largest decompressed request accepted; Prometheus's senders cut batches far below it.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<ProtoSample>,
    /// Native histograms, kept opaque: only counted, since Pharos stores floats.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram, 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

impl MetricMetadata {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            1 => "counter",
            2 => "gauge",
            3 => "histogram",
            4 => "gaugehistogram",
            5 => "summary",
            6 => "info",
            7 => "stateset",
            _ => "unknown",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("snappy: {0}")]
    Snappy(String),
    #[error("decoded request is {0} bytes, above the limit of {MAX_DECODED_BYTES}")]
    TooLarge(usize),
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// One series of a request with its samples, labels validated.
pub struct WrittenSeries {
    pub labels: LabelSet,
    pub samples: Vec<Sample>,
}

/// A decoded request: the series that can be stored and why the others were not.
pub struct Decoded {
    pub series: Vec<WrittenSeries>,
    pub metadata: Vec<MetricMetadata>,
    /// Series refused as a whole, with the reason (invalid or duplicate label names, no
    /// metric name).
    pub rejected: Vec<String>,
    pub histograms_dropped: usize,
}

/// Decompresses and decodes a request body.
pub fn decode(body: &[u8]) -> Result<Decoded, RemoteWriteError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if len > MAX_DECODED_BYTES {
        return Err(RemoteWriteError::TooLarge(len));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    let req = <WriteRequest as prost::Message>::decode(raw.as_slice())?;
    let mut out = Decoded {
        series: Vec::new(),
        metadata: req.metadata,
        rejected: Vec::new(),
        histograms_dropped: 0,
    };
    for ts in req.timeseries {
        out.histograms_dropped += ts.histograms.len();
        match labels_of(ts.labels) {
            Ok(labels) => {
                if !ts.samples.is_empty() {
                    let samples = ts
                        .samples
                        .into_iter()
                        .map(|s| Sample {
                            t: s.timestamp,
                            v: s.value,
                        })
                        .collect();
                    out.series.push(WrittenSeries { labels, samples });
                }
            }
            Err(e) => out.rejected.push(e),
        }
    }
    Ok(out)
}

fn labels_of(labels: Vec<Label>) -> Result<LabelSet, String> {
    let mut seen = std::collections::HashSet::new();
    for l in &labels {
        if l.name.is_empty() {
            return Err("empty label name".into());
        }
        if !seen.insert(l.name.as_str()) {
            return Err(format!("duplicate label name {:?}", l.name));
        }
    }
    let set = LabelSet::new(labels.into_iter().map(|l| (l.name, l.value)));
    if set.metric_name().is_none() {
        return Err(format!("series {set} has no metric name"));
    }
    Ok(set)
}

/// Encodes a request as a sender does (tests and the benchmark use it).
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any input")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let req = WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![
                        Label {
                            name: "__name__".into(),
                            value: "up".into(),
                        },
                        Label {
                            name: "job".into(),
                            value: "x".into(),
                        },
                    ],
                    samples: vec![
                        ProtoSample {
                            value: 1.0,
                            timestamp: 1000,
                        },
                        ProtoSample {
                            value: 0.0,
                            timestamp: 2000,
                        },
                    ],
                    histograms: vec![],
                },
                TimeSeries {
                    labels: vec![Label {
                        name: "job".into(),
                        value: "x".into(),
                    }],
                    samples: vec![ProtoSample {
                        value: 1.0,
                        timestamp: 1000,
                    }],
                    histograms: vec![vec![1, 2]],
                },
            ],
            metadata: vec![],
        };
        let d = decode(&encode(&req)).unwrap();
        assert_eq!(d.series.len(), 1);
        assert_eq!(d.series[0].labels.to_string(), r#"up{job="x"}"#);
        assert_eq!(d.series[0].samples[1], Sample { t: 2000, v: 0.0 });
        assert_eq!(d.rejected.len(), 1);
        assert_eq!(d.histograms_dropped, 1);
        assert!(matches!(
            decode(b"not snappy"),
            Err(RemoteWriteError::Snappy(_))
        ));
        let garbage = snap::raw::Encoder::new()
            .compress_vec(&[0xff, 0xff, 0xff])
            .unwrap();
        assert!(matches!(
            decode(&garbage),
            Err(RemoteWriteError::Protobuf(_))
        ));
    }
}
