//! The rules an SLO stands for: its error ratio recorded over each of the SRE workbook's
//! windows (`pharos_slo:error_ratio:rate5m` … `rate3d`, label `slo`), and multi-window,
//! multi-burn-rate alerts on them: `SLOBurnRateFast` (critical: 1 h and 5 m at 14.4×,
//! 6 h and 30 m at 6×) and `SLOBurnRateSlow` (warning, a ticket: 1 d and 2 h at 3×, 3 d and
//! 6 h at 1×). One group per SLO in the file `slos`, evaluated and routed like every other
//! rule, listed on `/rules`.

use std::path::Path;

use pharos_model::slo::{BURN_TIERS, BURN_WINDOWS, SloSpec, recorded_ratio};
use serde_json::{Value, json};

use crate::rules::{RuleFileError, RuleGroupSpec, parse_rule_file};

/// The `file` of the generated groups, as `/rules` shows it.
pub const RULE_FILE: &str = "slos";

/// The rule groups of `slos`, parsed as a rule file would be, so a selector that is not
/// PromQL is refused with the parser's message.
pub fn rule_groups(slos: &[SloSpec]) -> Result<Vec<RuleGroupSpec>, Vec<RuleFileError>> {
    if slos.is_empty() {
        return Ok(Vec::new());
    }
    let groups: Vec<Value> = slos.iter().map(group).collect();
    let text = json!({ "groups": groups }).to_string();
    parse_rule_file(&text, Path::new(RULE_FILE))
}

fn group(slo: &SloSpec) -> Value {
    let sel = |window: &str| format!("{}{{slo=\"{}\"}}", recorded_ratio(window), slo.name);
    let mut rules: Vec<Value> = BURN_WINDOWS
        .iter()
        .map(|w| {
            json!({
                "record": recorded_ratio(w),
                "expr": slo.indicator.error_ratio(w),
                "labels": { "slo": slo.name },
            })
        })
        .collect();
    let budget = slo.budget();
    for page in [true, false] {
        let tiers: Vec<String> = BURN_TIERS
            .iter()
            .filter(|t| t.page == page)
            .map(|t| {
                let limit = trimmed(t.factor * budget, 8);
                format!("({} > {limit} and {} > {limit})", sel(t.long), sel(t.short))
            })
            .collect();
        let mut labels = serde_json::Map::new();
        for (k, v) in &slo.labels {
            labels.insert(k.clone(), Value::String(v.clone()));
        }
        labels.insert("slo".into(), Value::String(slo.name.clone()));
        labels.insert(
            "severity".into(),
            Value::String(if page { "critical" } else { "warning" }.into()),
        );
        let (name, pace) = if page {
            (
                "SLOBurnRateFast",
                "fast: at this rate the budget is gone within days",
            )
        } else {
            (
                "SLOBurnRateSlow",
                "steadily: at this rate the budget runs out before the window ends",
            )
        };
        rules.push(json!({
            "alert": name,
            "expr": tiers.join(" or "),
            "labels": labels,
            "annotations": {
                "summary": format!(
                    "SLO {} ({}% over {}) is burning its error budget {pace}",
                    slo.name, slo.objective, slo.window
                ),
                "description": format!(
                    "{} Error ratio now: {{{{ $value | humanizePercentage }}}} (the objective allows {}%).",
                    slo.description.as_deref().unwrap_or(""),
                    format_percent(budget * 100.0)
                ).trim().to_string(),
            },
        }));
    }
    json!({ "name": format!("slo:{}", slo.name), "rules": rules })
}

fn format_percent(v: f64) -> String {
    trimmed(v, 4)
}

/// `v` with at most `decimals` decimals and no trailing zeros (`0.072`, not
/// `0.07200000000000005`).
fn trimmed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pharos_model::slo::Indicator;

    fn slo(indicator: Indicator) -> SloSpec {
        SloSpec {
            name: "webhook".into(),
            description: Some("Telegram webhooks answered.".into()),
            objective: 99.5,
            window: pharos_model::HumanDuration::from_secs(30 * 86_400),
            indicator,
            labels: [("team".to_string(), "bot".to_string())].into(),
        }
    }

    #[test]
    fn an_slo_is_seven_recordings_and_two_burn_rate_alerts() {
        let groups = rule_groups(&[slo(Indicator::Monitor("bot-health".into()))]).unwrap();
        let [g] = &groups[..] else { panic!() };
        assert_eq!(g.name, "slo:webhook");
        assert_eq!(g.file, RULE_FILE);
        let names: Vec<&str> = g.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pharos_slo:error_ratio:rate5m",
                "pharos_slo:error_ratio:rate30m",
                "pharos_slo:error_ratio:rate1h",
                "pharos_slo:error_ratio:rate2h",
                "pharos_slo:error_ratio:rate6h",
                "pharos_slo:error_ratio:rate1d",
                "pharos_slo:error_ratio:rate3d",
                "SLOBurnRateFast",
                "SLOBurnRateSlow"
            ]
        );
        let fast = &g.rules[7];
        assert!(fast.is_alerting());
        assert_eq!(
            fast.expr_text,
            "(pharos_slo:error_ratio:rate1h{slo=\"webhook\"} > 0.072 and pharos_slo:error_ratio:rate5m{slo=\"webhook\"} > 0.072) or (pharos_slo:error_ratio:rate6h{slo=\"webhook\"} > 0.03 and pharos_slo:error_ratio:rate30m{slo=\"webhook\"} > 0.03)"
        );
        assert_eq!(fast.labels["severity"], "critical");
        assert_eq!(fast.labels["team"], "bot");
        assert_eq!(g.rules[8].labels["severity"], "warning");
    }

    #[test]
    fn a_selector_that_is_not_promql_is_refused() {
        let bad = slo(Indicator::Ratio {
            errors: "http_requests_total{code=~\"5..\"".into(),
            total: "http_requests_total".into(),
        });
        let errors = rule_groups(&[bad]).unwrap_err();
        assert!(!errors.is_empty());
        let good = slo(Indicator::Latency {
            histogram: "http_request_duration_seconds_bucket{job=\"bot\"}".into(),
            threshold: 0.8,
        });
        assert!(rule_groups(&[good]).is_ok());
    }
}
