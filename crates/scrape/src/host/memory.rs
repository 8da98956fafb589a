//! Memory: `/proc/meminfo` field by field and the paging counters of `/proc/vmstat`
//! (node_exporter's `meminfo` and `vmstat` collectors).

use super::{HostCollector, Kind, Sink};

/// `MemTotal: 16 kB` → `node_memory_MemTotal_bytes`; `Active(anon)` → `Active_anon`;
/// fields without a unit (`HugePages_Total`) keep their name.
pub(super) fn meminfo(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("meminfo") else {
        return false;
    };
    parse_meminfo(&text, sink);
    true
}

fn parse_meminfo(text: &str, sink: &mut Sink) {
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_ascii_whitespace();
        let Some(Ok(mut v)) = parts.next().map(str::parse::<f64>) else {
            continue;
        };
        let unit = parts.next();
        if unit == Some("kB") {
            v *= 1024.0;
        }
        let mut field: String = key
            .chars()
            .filter(|c| *c != ')')
            .map(|c| if c == '(' { '_' } else { c })
            .collect();
        if unit.is_some() {
            field.push_str("_bytes");
        }
        sink.gauge(
            &format!("node_memory_{field}"),
            &format!("Memory information field {field}."),
            &[],
            v,
        );
    }
}

/// node_exporter's default field selection: `^(oom_kill|pgpg|pswp|pg.*fault).*`.
fn vmstat_field_wanted(field: &str) -> bool {
    field.starts_with("oom_kill")
        || field.starts_with("pgpg")
        || field.starts_with("pswp")
        || field
            .strip_prefix("pg")
            .is_some_and(|rest| rest.contains("fault"))
}

pub(super) fn vmstat(c: &HostCollector, sink: &mut Sink) -> bool {
    let Some(text) = c.read_proc("vmstat") else {
        return false;
    };
    for line in text.lines() {
        let Some((field, v)) = line.split_once(' ') else {
            continue;
        };
        if !vmstat_field_wanted(field) {
            continue;
        }
        let Ok(v) = v.trim().parse::<f64>() else {
            continue;
        };
        sink.add(
            Kind::Untyped,
            &format!("node_vmstat_{field}"),
            &format!("/proc/vmstat information field {field}."),
            &[],
            v,
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn meminfo_names_and_bytes_as_node_exporter() {
        let text = "MemTotal:       16000 kB\nMemAvailable:    8000 kB\nActive(anon):      10 kB\nHugePages_Total:       0\n";
        let got = run(|s| {
            parse_meminfo(text, s);
            true
        });
        assert_eq!(
            got,
            vec![
                ("node_memory_MemTotal_bytes{}".into(), 16_384_000.0),
                ("node_memory_MemAvailable_bytes{}".into(), 8_192_000.0),
                ("node_memory_Active_anon_bytes{}".into(), 10_240.0),
                ("node_memory_HugePages_Total{}".into(), 0.0),
            ]
        );
    }

    #[test]
    fn vmstat_keeps_node_exporters_default_fields() {
        let (root, c) = fixture(
            "vmstat",
            &[(
                "proc/vmstat",
                "nr_free_pages 100\npgpgin 5\npswpout 6\npgfault 7\npgmajfault 8\noom_kill 1\npgfree 9\n",
            )],
        );
        let got = run(|s| vmstat(&c, s));
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin{}",
                "node_vmstat_pswpout{}",
                "node_vmstat_pgfault{}",
                "node_vmstat_pgmajfault{}",
                "node_vmstat_oom_kill{}"
            ]
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
