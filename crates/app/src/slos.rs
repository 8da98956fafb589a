//! The state of each SLO, read from the metrics store: the indicator over the window, the
//! error budget left (as a share and as time), the burn rate over each alert window and
//! whether a burn-rate tier is met now, and the budget over the window for its chart. The
//! rules that alert on the same numbers are made from the config by `pharos_evaluate::slo`.

use std::collections::BTreeMap;

use chrono::Utc;
use pharos_model::slo::{BURN_TIERS, BURN_WINDOWS, SloSpec};
use pharos_promql::QueryValue;
use serde::Serialize;

use crate::{App, AppError};

/// Points of the budget chart over the window.
const CHART_POINTS: i64 = 60;

#[derive(Clone, Debug, Serialize)]
pub struct SloStatus {
    #[serde(flatten)]
    pub spec: SloSpec,
    /// `window` as written (`30d`).
    pub window_text: String,
    /// The share of good events over the window, in percent; `None` before any data.
    pub sli: Option<f64>,
    /// The share of the error budget left (1 untouched, 0 spent, below 0 overspent).
    pub budget_remaining: Option<f64>,
    /// The budget as time: the window times the share allowed to fail (30 d at 99.5 %: 3.6 h).
    pub budget_seconds: f64,
    /// What is left of it.
    pub budget_remaining_seconds: Option<f64>,
    /// Each alert window's error ratio over what the objective allows (1 = spending the
    /// budget exactly over the window).
    pub burn_rates: BTreeMap<&'static str, Option<f64>>,
    /// `fast` when a paging tier's two windows both burn past it (what `SLOBurnRateFast`
    /// fires on), `slow` for a ticket tier, `ok` otherwise; `no_data` without data.
    pub burn: &'static str,
}

/// The budget left over the window, for the chart.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetPoint {
    pub t_ms: i64,
    pub budget_remaining: f64,
}

impl App {
    /// Every SLO of the config with its state now.
    pub async fn slos(&self) -> Result<Vec<SloStatus>, AppError> {
        let specs = self.slos.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            out.push(self.slo_status(spec).await?);
        }
        Ok(out)
    }

    /// One SLO with its state and its budget over the window.
    pub async fn slo(&self, name: &str) -> Result<(SloStatus, Vec<BudgetPoint>), AppError> {
        let spec = self
            .slos
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .ok_or_else(|| AppError::NotFound(format!("no SLO named {name:?}")))?;
        let window_ms = spec.window.as_duration().as_millis() as i64;
        let end = Utc::now().timestamp_millis();
        let step = (window_ms / CHART_POINTS).max(60_000);
        let query = format!(
            "1 - ({}) / {}",
            spec.indicator.error_ratio(&spec.window.to_string()),
            spec.budget()
        );
        let chart = match self
            .range_query(query, end - window_ms, end, step)
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .value
        {
            QueryValue::Matrix(series) => series
                .into_iter()
                .next()
                .map(|s| {
                    s.samples
                        .into_iter()
                        .filter(|p| p.v.is_finite())
                        .map(|p| BudgetPoint {
                            t_ms: p.t,
                            budget_remaining: p.v,
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok((self.slo_status(spec).await?, chart))
    }

    async fn slo_status(&self, spec: SloSpec) -> Result<SloStatus, AppError> {
        let now = Utc::now().timestamp_millis();
        let window_text = spec.window.to_string();
        let ratio = self.error_ratio(&spec, &window_text, now).await?;
        let budget = spec.budget();
        let mut burn_rates = BTreeMap::new();
        for w in BURN_WINDOWS {
            let r = self.error_ratio(&spec, w, now).await?;
            burn_rates.insert(w, r.map(|r| r / budget));
        }
        let tier_met = |page: bool| {
            BURN_TIERS.iter().filter(|t| t.page == page).any(|t| {
                let over = |w: &str| {
                    burn_rates
                        .get(w)
                        .copied()
                        .flatten()
                        .is_some_and(|b| b > t.factor)
                };
                over(t.long) && over(t.short)
            })
        };
        let burn = if ratio.is_none() {
            "no_data"
        } else if tier_met(true) {
            "fast"
        } else if tier_met(false) {
            "slow"
        } else {
            "ok"
        };
        let budget_seconds = (spec.window.as_duration().as_secs_f64() * budget).round();
        let budget_remaining = ratio.map(|r| 1.0 - r / budget);
        Ok(SloStatus {
            sli: ratio.map(|r| (1.0 - r) * 100.0),
            budget_remaining,
            budget_seconds,
            budget_remaining_seconds: budget_remaining.map(|b| b * budget_seconds),
            burn_rates,
            burn,
            window_text,
            spec,
        })
    }

    /// The share of errors over `range` ending now; `None` without data.
    async fn error_ratio(
        &self,
        spec: &SloSpec,
        range: &str,
        at_ms: i64,
    ) -> Result<Option<f64>, AppError> {
        let result = self
            .instant_query(spec.indicator.error_ratio(range), at_ms)
            .await
            .map_err(|e| AppError::Internal(format!("SLO {}: {e}", spec.name)))?;
        Ok(match result.value {
            QueryValue::Vector(v) => v.first().map(|s| s.sample.v).filter(|v| v.is_finite()),
            QueryValue::Scalar { v, .. } if v.is_finite() => Some(v),
            _ => None,
        })
    }
}
