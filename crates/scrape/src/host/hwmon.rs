//! Hardware sensors: `/sys/class/hwmon` temperatures and fans, thermal zones and
//! cooling devices, power supplies (node_exporter's `hwmon`, `thermal_zone` and
//! `powersupplyclass` collectors). Virtual machines usually have none of them, and then
//! these series are simply absent.

use std::collections::BTreeMap;
use std::path::Path;

use super::{HostCollector, Sink, entries, number, text};

/// node_exporter's label cleaning: lower case, anything but `[a-z0-9:_]` to `_`,
/// trimmed of `_`.
fn clean(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// The `chip` label: the device's bus and name (`platform_coretemp_0`), else the
/// driver's name, else the hwmon folder's name.
fn chip_label(dir: &Path) -> String {
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let name = device
            .file_name()
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default();
        let kind = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean(&n.to_string_lossy()))
            .unwrap_or_default();
        match (kind.is_empty(), name.is_empty()) {
            (false, false) => return format!("{kind}_{name}"),
            (true, false) => return name,
            _ => {}
        }
    }
    if let Some(name) = text(&dir.join("name"))
        .map(|n| clean(&n))
        .filter(|n| !n.is_empty())
    {
        return name;
    }
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    real.file_name()
        .map(|n| clean(&n.to_string_lossy()))
        .unwrap_or_default()
}

/// `temp1_input` → ("temp", "1", "input"); `fan2_min` → ("fan", "2", "min").
fn sensor_file(name: &str) -> Option<(&str, &str, &str)> {
    let kind_end = name.find(|c: char| c.is_ascii_digit())?;
    let rest = &name[kind_end..];
    let num_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let property = rest[num_end..].strip_prefix('_').unwrap_or("");
    Some((&name[..kind_end], &rest[..num_end], property))
}

pub(super) fn hwmon(c: &HostCollector, sink: &mut Sink) -> bool {
    let chips = entries(&c.sys.join("class/hwmon"));
    for (_, dir) in &chips {
        let chip = chip_label(dir);
        if let Some(name) = text(&dir.join("name"))
            .map(|n| clean(&n))
            .filter(|n| !n.is_empty())
        {
            sink.gauge(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                &[("chip", &chip), ("chip_name", &name)],
                1.0,
            );
        }
        // Sensor files sit in the hwmon folder, or in its `device` for older drivers.
        let mut sensors: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for folder in [dir.clone(), dir.join("device")] {
            for (file, path) in entries(&folder) {
                let Some((kind, num, property)) = sensor_file(&file) else {
                    continue;
                };
                if kind != "temp" && kind != "fan" {
                    continue;
                }
                if let Some(v) = number(&path) {
                    sensors
                        .entry(format!("{kind}{num}"))
                        .or_default()
                        .insert(property.to_string(), v);
                }
            }
        }
        for (sensor, values) in &sensors {
            let l = [("chip", chip.as_str()), ("sensor", sensor.as_str())];
            for (property, v) in values {
                if sensor.starts_with("temp") {
                    if property == "type" || property == "fault" || property == "alarm" {
                        continue;
                    }
                    let p = if property.is_empty() {
                        "input"
                    } else {
                        property
                    };
                    let name = if p == "input" {
                        "node_hwmon_temp_celsius".to_string()
                    } else {
                        format!("node_hwmon_temp_{}_celsius", clean(p))
                    };
                    sink.gauge(
                        &name,
                        &format!("Hardware monitor for temperature ({p})"),
                        &l,
                        v * 0.001,
                    );
                } else if ["input", "min", "max", "target"].contains(&property.as_str()) {
                    let name = if property == "input" {
                        "node_hwmon_fan_rpm".to_string()
                    } else {
                        format!("node_hwmon_fan_{property}_rpm")
                    };
                    sink.gauge(
                        &name,
                        &format!("Hardware monitor for fan revolutions per minute ({property})"),
                        &l,
                        *v,
                    );
                }
            }
        }
    }
    !chips.is_empty()
}

pub(super) fn thermal_zone(c: &HostCollector, sink: &mut Sink) -> bool {
    let mut found = false;
    for (name, dir) in entries(&c.sys.join("class/thermal")) {
        let kind = text(&dir.join("type")).unwrap_or_default();
        if let Some(zone) = name.strip_prefix("thermal_zone") {
            if let Some(t) = number(&dir.join("temp")) {
                sink.gauge(
                    "node_thermal_zone_temp",
                    "Zone temperature in Celsius",
                    &[("zone", zone), ("type", &kind)],
                    t / 1000.0,
                );
                found = true;
            }
        } else if let Some(device) = name.strip_prefix("cooling_device") {
            let l = [("name", device), ("type", kind.as_str())];
            if let Some(v) = number(&dir.join("cur_state")) {
                sink.gauge(
                    "node_cooling_device_cur_state",
                    "Current throttle state of the cooling device",
                    &l,
                    v,
                );
                found = true;
            }
            if let Some(v) = number(&dir.join("max_state")) {
                sink.gauge(
                    "node_cooling_device_max_state",
                    "Maximum throttle state of the cooling device",
                    &l,
                    v,
                );
            }
        }
    }
    found
}

pub(super) fn powersupplyclass(c: &HostCollector, sink: &mut Sink) -> bool {
    // (file, metric suffix, scale)
    const VALUES: [(&str, &str, f64); 14] = [
        ("authentic", "authentic", 1.0),
        ("calibrate", "calibrate", 1.0),
        ("capacity", "capacity", 1.0),
        ("capacity_alert_max", "capacity_alert_max", 1.0),
        ("capacity_alert_min", "capacity_alert_min", 1.0),
        ("cycle_count", "cyclecount", 1.0),
        ("online", "online", 1.0),
        ("present", "present", 1.0),
        ("time_to_empty_now", "time_to_empty_seconds", 1.0),
        ("time_to_full_now", "time_to_full_seconds", 1.0),
        ("current_now", "current_ampere", 1e-6),
        ("voltage_now", "voltage_volt", 1e-6),
        ("power_now", "power_watt", 1e-6),
        ("energy_now", "energy_watthour", 1e-6),
    ];
    let supplies = entries(&c.sys.join("class/power_supply"));
    for (supply, dir) in &supplies {
        for (file, name, scale) in VALUES {
            if let Some(v) = number(&dir.join(file)) {
                sink.gauge(
                    &format!("node_power_supply_{name}"),
                    &format!("{name} value of /sys/class/power_supply/<power_supply>."),
                    &[("power_supply", supply)],
                    v * scale,
                );
            }
        }
    }
    !supplies.is_empty()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, run};
    use super::*;

    #[test]
    fn temperatures_fans_cooling_and_power_supplies() {
        let (root, c) = fixture(
            "hwmon",
            &[
                ("sys/class/hwmon/hwmon0/name", "coretemp\n"),
                ("sys/class/hwmon/hwmon0/temp1_input", "45000\n"),
                ("sys/class/hwmon/hwmon0/temp1_crit", "100000\n"),
                ("sys/class/hwmon/hwmon0/temp1_crit_alarm", "0\n"),
                ("sys/class/hwmon/hwmon0/temp1_label", "Core 0\n"),
                ("sys/class/hwmon/hwmon0/fan1_input", "1200\n"),
                ("sys/class/hwmon/hwmon0/fan1_min", "300\n"),
                ("sys/class/thermal/cooling_device0/type", "Processor\n"),
                ("sys/class/thermal/cooling_device0/cur_state", "0\n"),
                ("sys/class/thermal/cooling_device0/max_state", "3\n"),
                ("sys/class/thermal/thermal_zone0/type", "acpitz\n"),
                ("sys/class/thermal/thermal_zone0/temp", "27800\n"),
                ("sys/class/power_supply/AC/online", "1\n"),
            ],
        );
        let got = run(|s| hwmon(&c, s) & thermal_zone(&c, s) & powersupplyclass(&c, s));
        for want in [
            (
                "node_hwmon_chip_names{chip=coretemp,chip_name=coretemp}",
                1.0,
            ),
            ("node_hwmon_temp_celsius{chip=coretemp,sensor=temp1}", 45.0),
            (
                "node_hwmon_temp_crit_celsius{chip=coretemp,sensor=temp1}",
                100.0,
            ),
            (
                "node_hwmon_temp_crit_alarm_celsius{chip=coretemp,sensor=temp1}",
                0.0,
            ),
            ("node_hwmon_fan_rpm{chip=coretemp,sensor=fan1}", 1200.0),
            ("node_hwmon_fan_min_rpm{chip=coretemp,sensor=fan1}", 300.0),
            ("node_cooling_device_max_state{name=0,type=Processor}", 3.0),
            ("node_thermal_zone_temp{type=acpitz,zone=0}", 27.8),
            ("node_power_supply_online{power_supply=AC}", 1.0),
        ] {
            assert!(
                got.contains(&(want.0.into(), want.1)),
                "{want:?} in {got:#?}"
            );
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
