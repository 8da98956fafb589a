//! Grafana's most used dashboard, "Node Exporter Full" (grafana.com 1860), against
//! Pharos's own host metrics: its variables resolve as Grafana resolves them, and every
//! panel's queries are run through `/api/v1/query_range`. Every panel has data except
//! those whose source this machine does not have (listed with the reason), and the
//! host series and Pharos's own answer `/api/v1/metadata` with their TYPE and HELP.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

const DASHBOARD: &str = include_str!("node_exporter_full/node-exporter-full.json");

/// The interval both self-scrape and host metrics run at, and the data source's
/// "Scrape interval" setting Grafana would be given for it.
const SCRAPE_SECS: u64 = 1;

fn panels(list: &Value, out: &mut Vec<Value>) {
    for p in list.as_array().into_iter().flatten() {
        if p["type"] == "row" {
            panels(&p["panels"], out);
        } else {
            out.push(p.clone());
        }
    }
}

fn has_file_in(dir: &str, pred: impl Fn(&str) -> bool) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|f| pred(&f.file_name().to_string_lossy()))
        })
}

/// Panels that cannot have data on this machine, each with the reason; `None` for a
/// panel this machine should fill.
fn why_no_data_here(title: &str) -> Option<&'static str> {
    let exists = |p: &str| Path::new(p).exists();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let missing = |present: bool, why: &'static str| (!present).then_some(why);
    match title {
        "Systemd Units State"
        | "Systemd Sockets Current"
        | "Systemd Sockets Accepted"
        | "Systemd Sockets Refused" => Some(
            "Pharos has no systemd collector (node_exporter's asks systemd over D-Bus; off by default there too)",
        ),
        "Hardware Temperature Monitor" => missing(
            has_file_in("/sys/class/hwmon", |f| {
                f.starts_with("temp") && f.ends_with("_input")
            }),
            "no temperature sensor in /sys/class/hwmon (usual on a virtual machine)",
        ),
        "Hardware Fan Speed" => missing(
            has_file_in("/sys/class/hwmon", |f| {
                f.starts_with("fan") && f.ends_with("_input")
            }),
            "no fan sensor in /sys/class/hwmon (usual on a virtual machine)",
        ),
        "Cooling Device Utilization" => missing(
            std::fs::read_dir("/sys/class/thermal")
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("cooling_device")
                }),
            "no cooling device in /sys/class/thermal",
        ),
        "Power Supply" => missing(
            has_file_in("/sys/class/power_supply", |f| f == "online"),
            "no power supply in /sys/class/power_supply",
        ),
        "CPU Frequency Scaling" => missing(
            exists("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"),
            "no cpufreq in /sys/devices/system/cpu (the hypervisor does not expose it)",
        ),
        "CPU Saturation per Core" | "CPU Schedule Timeslices" => missing(
            exists("/proc/schedstat"),
            "no /proc/schedstat (kernel built without CONFIG_SCHEDSTATS)",
        ),
        "ARP Entries" => missing(
            std::fs::read_to_string("/proc/net/arp").is_ok_and(|t| t.lines().count() > 1),
            "the ARP table is empty",
        ),
        "NF Conntrack" => missing(
            exists("/proc/sys/net/netfilter/nf_conntrack_count"),
            "the nf_conntrack module is not loaded",
        ),
        "Pressure" | "Pressure Stall Information" => missing(
            exists("/proc/pressure/cpu"),
            "no /proc/pressure (kernel before 4.20 or without PSI)",
        ),
        "Memory Zswap" => missing(meminfo.contains("Zswap:"), "no Zswap in /proc/meminfo"),
        "Memory DirectMap" => missing(
            meminfo.contains("DirectMap"),
            "no DirectMap in /proc/meminfo (not x86)",
        ),
        _ => None,
    }
}

/// A dashboard expression with Grafana's variables replaced: `$job`, `$nodename`,
/// `$node`, and the interval variables for a `range_secs` time range at `step_secs`.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    // Longest names first, so `$node` does not eat the start of `$nodename`.
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
        out = out.replace(&format!("${k}"), v);
    }
    out
}

async fn get_json(p: &Pharos, path: &str) -> Value {
    let r = client()
        .get(format!("{}{path}", p.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// Grafana's `label_values(<selector>, <label>)`: the label's values among the series.
async fn label_values(p: &Pharos, selector: &str, label: &str) -> Vec<String> {
    let v = p
        .get(&format!(
            "/api/v1/label/{label}/values?match[]={}",
            url_escape(selector)
        ))
        .await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_full_has_data_in_every_panel_this_machine_can_fill() {
    let dir = tempdir("node-exporter-full");
    let config = format!(
        "metrics:\n  host_metrics_interval: {SCRAPE_SECS}s\n  self_scrape_interval: {SCRAPE_SECS}s\n"
    );
    let p = Pharos::start(&dir, Some(&config)).await;
    wait_promql(&p, "node_uname_info", 15, |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    // Enough collections for every rate() window ($__rate_interval is 4 scrapes).
    tokio::time::sleep(Duration::from_secs(8 * SCRAPE_SECS)).await;

    // The variables, resolved by their own queries as Grafana does.
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    let queries: Vec<(String, String)> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["query"]["query"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut vars: Vec<(String, String)> = Vec::new();
    for (name, query) in &queries {
        let query = substitute(
            query,
            &vars
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
        );
        // label_values(<selector>, <label>)
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap();
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let values = label_values(&p, selector.trim(), label.trim()).await;
        assert!(
            !values.is_empty(),
            "variable {name} ({query}) finds nothing\n{}",
            p.log_tail(20)
        );
        vars.push((name.clone(), values[0].clone()));
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let var = |n: &str| vars.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(var("job"), "node");
    assert_eq!(var("nodename"), host);
    assert_eq!(var("node"), host);

    // Grafana's interval variables for "last 60 s" with the data source's scrape
    // interval set to the host metrics interval: $__interval is the scrape interval (60 s
    // over ~1,000 points is less), $__rate_interval = max($__interval + scrape,
    // 4 × scrape).
    let range_secs = 60u64;
    let interval = SCRAPE_SECS;
    let rate_interval = (interval + SCRAPE_SECS).max(4 * SCRAPE_SECS);
    let (interval_s, rate_s, range_s) = (
        format!("{interval}s"),
        format!("{rate_interval}s"),
        format!("{range_secs}s"),
    );
    let range_ms = format!("{}", range_secs * 1000);
    let range_secs_text = range_secs.to_string();
    let interval_ms = format!("{}", interval * 1000);
    let mut all_vars: Vec<(&str, &str)> =
        vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all_vars.extend([
        ("__rate_interval", rate_s.as_str()),
        ("__interval_ms", interval_ms.as_str()),
        ("__interval", interval_s.as_str()),
        ("__range_ms", range_ms.as_str()),
        ("__range_s", range_secs_text.as_str()),
        ("__range", range_s.as_str()),
    ]);
    let end = chrono::Utc::now().timestamp();
    let start = end - range_secs as i64;

    let mut all = Vec::new();
    panels(&dashboard["panels"], &mut all);
    assert_eq!(all.len(), 125, "the dashboard's panel count");
    let mut with_data = 0;
    let mut no_data: Vec<(String, String)> = Vec::new();
    let mut unexplained: Vec<String> = Vec::new();
    for panel in &all {
        let title = panel["title"].as_str().unwrap_or("").to_string();
        let mut found = false;
        let mut why = String::from("every query returned no series");
        for target in panel["targets"].as_array().into_iter().flatten() {
            // Grafana does not run hidden queries.
            if target["hide"] == true {
                continue;
            }
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let q = substitute(expr, &all_vars);
            let v = get_json(
                &p,
                &format!(
                    "/api/v1/query_range?query={}&start={start}&end={end}&step={interval}",
                    url_escape(&q)
                ),
            )
            .await;
            if v["status"] != "success" {
                why = format!("{q}: {}", v["error"]);
                unexplained.push(format!("{title}: query error {why}"));
                continue;
            }
            if v["data"]["result"].as_array().is_some_and(|r| {
                r.iter()
                    .any(|s| s["values"].as_array().is_some_and(|v| !v.is_empty()))
            }) {
                found = true;
                break;
            }
        }
        if found {
            with_data += 1;
            continue;
        }
        match why_no_data_here(&title) {
            Some(reason) => no_data.push((title, reason.to_string())),
            None => {
                unexplained.push(format!("{title}: {why}"));
                no_data.push((title, why));
            }
        }
    }
    eprintln!(
        "Node Exporter Full: {with_data} of {} panels have data; without data:",
        all.len()
    );
    for (title, why) in &no_data {
        eprintln!("  {title}: {why}");
    }
    assert!(
        unexplained.is_empty(),
        "panels without data that this machine should fill:\n{}",
        unexplained.join("\n")
    );
    // On the 2-core VPS this was written on (a Firecracker VM without schedstat, cpufreq,
    // hwmon, thermal or power supply), 114 of 125: the 4 systemd panels, the 4
    // hardware-sensor panels, CPU frequency and the 2 schedstat panels are empty. A
    // machine with those files fills more, up to 121.
    let expected = all.len() - no_data.len();
    assert_eq!(with_data, expected);
    assert!(with_data >= 110, "only {with_data} panels have data");

    // Grafana's query builder shows each metric's type and help from /api/v1/metadata.
    let meta = p
        .get("/api/v1/metadata?metric=node_cpu_seconds_total")
        .await;
    assert_eq!(
        meta["data"]["node_cpu_seconds_total"],
        serde_json::json!([{"type": "counter", "help": "Seconds the CPUs spent in each mode.", "unit": ""}]),
        "{meta}"
    );
    let meta = p
        .get("/api/v1/metadata?metric=node_netstat_Tcp_InSegs")
        .await;
    assert_eq!(
        meta["data"]["node_netstat_Tcp_InSegs"][0]["type"], "unknown",
        "netstat fields are untyped in node_exporter: {meta}"
    );
    let meta = p.get("/api/v1/metadata").await;
    for job in ["node", "pharos"] {
        let names = label_values(&p, &format!("{{job=\"{job}\"}}"), "__name__").await;
        assert!(names.len() > 20, "{job}: {names:?}");
        let missing: Vec<&String> = names
            .iter()
            // The scrape's own series (`up`, `scrape_*`) have no metadata in Prometheus
            // either; histogram and summary parts are listed under their family.
            .filter(|n| *n != "up" && !n.starts_with("scrape_"))
            .filter(|n| {
                let family = n
                    .strip_suffix("_bucket")
                    .or_else(|| n.strip_suffix("_sum"))
                    .or_else(|| n.strip_suffix("_count"))
                    .unwrap_or(n);
                meta["data"].get(n.as_str()).is_none() && meta["data"].get(family).is_none()
            })
            .collect();
        assert!(
            missing.is_empty(),
            "job {job}: series without metadata: {missing:?}"
        );
    }
}
