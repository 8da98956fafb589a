//! One rule group's state and its evaluation at a given time, with Prometheus's semantics:
//! rules run in order and a recording rule's samples are written before the next rule
//! runs; alerting rules move inactive → pending → firing after `for`, stay firing for
//! `keep_firing_for` once the condition is gone, and keep a resolved alert for 15 minutes;
//! `ALERTS` / `ALERTS_FOR_STATE` are written each evaluation; `for` state is restored
//! from `ALERTS_FOR_STATE` after a restart.
//!
//! Nothing here reads a clock or the alert store: the caller passes the evaluation time
//! and gets back the alert writes to make (with whether each one notifies), and reports
//! which were saved. That keeps every time in the tests exact.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use pharos_model::series::{
    LabelMatcher, LabelSet, METRIC_NAME, SeriesSample, SeriesSource, is_stale_marker, stale_marker,
};
use pharos_model::{Alert, AlertState, Labels};
use pharos_promql::{Engine, QueryValue};
use pharos_template::{QuerySamples, Template, TemplateData, query_escape};

use super::file::{RuleGroupSpec, RuleKind, RuleSpec};

/// How long a resolved alert is kept (Prometheus's `resolvedRetention`).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;
/// `--rules.alert.for-grace-period`: rules with a shorter `for` are not restored, and a
/// restored alert gets at least this long before it fires.
pub const FOR_GRACE_PERIOD_MS: i64 = 10 * 60 * 1000;
/// `--rules.alert.for-outage-tolerance`: how old an `ALERTS_FOR_STATE` sample may be.
pub const FOR_OUTAGE_TOLERANCE_MS: i64 = 60 * 60 * 1000;

/// Where rules read series and write what they record, synchronously: a sample appended
/// is visible to the next rule's query.
pub trait RuleStorage: Send + Sync {
    fn source(&self) -> &dyn SeriesSource;
    fn append(&self, samples: &[SeriesSample]) -> Result<(), String>;
}

/// What every evaluation needs besides the group itself.
pub struct EvalContext<'a> {
    pub storage: &'a dyn RuleStorage,
    pub engine: &'a Engine,
    pub external_labels: &'a BTreeMap<String, String>,
    /// Base of the links in alerts (`generatorURL`) and `$externalURL`.
    pub external_url: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// Prometheus's alert states; `Inactive` is a resolved alert still held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAlertState {
    Inactive,
    Pending,
    Firing,
}

impl RuleAlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAlertState::Inactive => "inactive",
            RuleAlertState::Pending => "pending",
            RuleAlertState::Firing => "firing",
        }
    }
}

/// An alert of an alerting rule, as Prometheus keeps it between evaluations.
#[derive(Clone, Debug)]
pub struct RuleAlert {
    /// alertname + the rule's labels + the series' labels.
    pub labels: Labels,
    pub annotations: Labels,
    pub state: RuleAlertState,
    pub value: f64,
    /// Unix ms.
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// A change to the alert store the caller should make.
#[derive(Clone, Debug)]
pub struct AlertWrite {
    pub alert: Alert,
    /// Whether receivers are told (firing, or resolved after firing).
    pub notify: bool,
    pub rule: usize,
}

pub struct RuleState {
    pub spec: RuleSpec,
    pub health: Health,
    pub last_error: Option<String>,
    pub last_evaluation: Option<i64>,
    pub evaluation_time: Duration,
    /// The selectors of the expression that match no series at all, as written; checked
    /// only when the last evaluation's query came back empty, so it is a hint that the
    /// rule watches a metric that does not exist (a typo, a scrape not set up), not a
    /// health state: Prometheus calls such a rule "ok", and so does the rules API.
    pub missing_series: Vec<String>,
    /// Whether the last evaluation's query returned no sample.
    query_was_empty: bool,
    /// When every selector was last found to match series (Unix ms): they are not looked
    /// up again for [`SELECTORS_RECHECK_MS`], so a rule over a big metric whose condition
    /// is not met costs no index walk per evaluation.
    selectors_found_at: Option<i64>,
    /// Alerting rules: alerts by a hash of their labels.
    pub active: BTreeMap<String, RuleAlert>,
    /// Whether `for` state was restored (or needed none); until then no `ALERTS` are written.
    pub restored: bool,
    /// The open alerts the store holds for this rule, by store fingerprint.
    pub stored: HashMap<String, Alert>,
    previous_series: HashSet<LabelSet>,
}

pub struct GroupState {
    pub spec: RuleGroupSpec,
    pub interval: Duration,
    pub rules: Vec<RuleState>,
    pub last_evaluation: Option<i64>,
    pub evaluation_time: Duration,
}

impl GroupState {
    /// `restored`: false only for the groups of the first load after a start, whose `for`
    /// state is to be restored.
    pub fn new(spec: RuleGroupSpec, default_interval: Duration, restored: bool) -> GroupState {
        let interval = spec
            .interval
            .unwrap_or(default_interval)
            .max(Duration::from_millis(1));
        let rules = spec
            .rules
            .iter()
            .map(|r| RuleState {
                spec: r.clone(),
                health: Health::Unknown,
                last_error: None,
                last_evaluation: None,
                evaluation_time: Duration::ZERO,
                missing_series: Vec::new(),
                query_was_empty: false,
                selectors_found_at: None,
                active: BTreeMap::new(),
                restored: restored || !r.is_alerting(),
                stored: HashMap::new(),
                previous_series: HashSet::new(),
            })
            .collect();
        GroupState {
            spec,
            interval,
            rules,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
        }
    }

    /// The group's identity across reloads.
    pub fn key(&self) -> (String, String) {
        (self.spec.file.clone(), self.spec.name.clone())
    }

    /// Prometheus's alignment: evaluations fall on `interval` boundaries shifted by a hash
    /// of the group's name and file, so groups spread over the interval.
    pub fn eval_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.interval.as_millis().max(1) as i64;
        let offset = (group_hash(&self.spec.file, &self.spec.name) % interval as u64) as i64;
        let adj = now_ms - offset;
        adj - adj.rem_euclid(interval) + offset
    }

    /// Takes over what the same rules of the group before a reload knew (matched by name
    /// and labels): alerts, health, store state. Returns the old rules nobody took.
    pub fn copy_state(&mut self, old: GroupState) -> Vec<RuleState> {
        let mut old_rules: Vec<Option<RuleState>> = old.rules.into_iter().map(Some).collect();
        for r in &mut self.rules {
            let found = old_rules.iter_mut().find(|o| {
                o.as_ref().is_some_and(|o| {
                    o.spec.name == r.spec.name
                        && o.spec.labels == r.spec.labels
                        && o.spec.is_alerting() == r.spec.is_alerting()
                })
            });
            if let Some(o) = found.and_then(Option::take) {
                r.health = o.health;
                r.last_error = o.last_error;
                r.last_evaluation = o.last_evaluation;
                r.evaluation_time = o.evaluation_time;
                r.active = o.active;
                r.stored = o.stored;
                r.restored = o.restored;
                r.previous_series = o.previous_series;
            }
        }
        self.last_evaluation = old.last_evaluation;
        self.evaluation_time = old.evaluation_time;
        old_rules.into_iter().flatten().collect()
    }

    /// Evaluates every rule at `ts` (Unix ms), writes recorded series and `ALERTS`, and
    /// returns the alert store changes to make.
    pub fn evaluate(&mut self, ts: i64, ctx: &EvalContext<'_>) -> Vec<AlertWrite> {
        let started = Instant::now();
        let offset = self.spec.query_offset.as_millis() as i64;
        let limit = self.spec.limit;
        let group = self.spec.name.clone();
        let mut writes = Vec::new();
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let rule_started = Instant::now();
            let result = match &rule.spec.kind {
                RuleKind::Recording => rule.eval_recording(ts, offset, limit, ctx),
                RuleKind::Alerting { .. } => rule.eval_alerting(ts, offset, limit, ctx),
            };
            match result {
                Ok(samples) => {
                    rule.health = Health::Ok;
                    rule.last_error = None;
                    let recently_found = rule
                        .selectors_found_at
                        .is_some_and(|at| ts - at < SELECTORS_RECHECK_MS);
                    if !rule.query_was_empty {
                        rule.missing_series.clear();
                    } else if !recently_found {
                        rule.missing_series = missing_series(&rule.spec.expr, ctx.storage.source());
                        rule.selectors_found_at = rule.missing_series.is_empty().then_some(ts);
                    }
                    write_with_staleness(rule, samples, ts - offset, ctx);
                }
                Err(e) => {
                    tracing::warn!(operation = "rule_eval", group = group.as_str(), rule = rule.spec.name.as_str(), error = %e, "rule evaluation failed");
                    rule.health = Health::Err;
                    rule.last_error = Some(e);
                    rule.missing_series.clear();
                }
            }
            if rule.spec.is_alerting() {
                writes.extend(
                    rule.store_changes(ts, &group, ctx)
                        .into_iter()
                        .map(|mut w| {
                            w.rule = i;
                            w
                        }),
                );
            }
            rule.last_evaluation = Some(ts);
            rule.evaluation_time = rule_started.elapsed();
        }
        self.last_evaluation = Some(ts);
        self.evaluation_time = started.elapsed();
        writes
    }

    /// Prometheus's "for state restoration": each active alert of a rule with a `for` of
    /// at least the grace period gets back the time it became active, from the newest
    /// `ALERTS_FOR_STATE` sample of the last hour.
    pub fn restore_for_state(&mut self, ts: i64, ctx: &EvalContext<'_>) {
        for rule in &mut self.rules {
            if rule.restored {
                continue;
            }
            rule.restored = true;
            let RuleKind::Alerting { hold, .. } = &rule.spec.kind else {
                continue;
            };
            let hold = hold.as_millis() as i64;
            if hold < FOR_GRACE_PERIOD_MS {
                continue;
            }
            for a in rule.active.values_mut() {
                let mut matchers = vec![LabelMatcher::equal(METRIC_NAME, "ALERTS_FOR_STATE")];
                matchers.extend(
                    a.labels
                        .iter()
                        .map(|(k, v)| LabelMatcher::equal(k.clone(), v.clone())),
                );
                let Ok(series) =
                    ctx.storage
                        .source()
                        .select(&matchers, ts - FOR_OUTAGE_TOLERANCE_MS, ts)
                else {
                    continue;
                };
                let Some(last) = series
                    .iter()
                    .filter(|s| s.labels.len() == matchers.len())
                    .filter_map(|s| s.samples.last())
                    .max_by_key(|s| s.t)
                else {
                    continue;
                };
                if is_stale_marker(last.v) || !last.v.is_finite() {
                    continue;
                }
                // Prometheus works in whole seconds here.
                let down_at = last.t.div_euclid(1000) * 1000;
                let mut active_at = (last.v as i64) * 1000;
                let remaining = hold - (down_at - active_at);
                if remaining <= 0 {
                    // It was firing when Pharos stopped; the next evaluation fires it again.
                } else if remaining < FOR_GRACE_PERIOD_MS {
                    active_at = ts + FOR_GRACE_PERIOD_MS - hold;
                } else {
                    active_at += ts - down_at;
                }
                a.active_at = active_at;
            }
        }
    }

    /// Gives an open alert from the store to the rule it came from; false if no rule of
    /// this group claims it.
    pub fn adopt(&mut self, alert: &Alert) -> bool {
        let name = alert.name();
        for rule in &mut self.rules {
            if !rule.spec.is_alerting() || rule.spec.name != name {
                continue;
            }
            let static_labels_match = rule
                .spec
                .labels
                .iter()
                .all(|(k, v)| v.contains("{{") || alert.labels.get(k) == Some(v));
            if static_labels_match {
                rule.stored.insert(alert.fingerprint.clone(), alert.clone());
                return true;
            }
        }
        false
    }

    /// Records that a write was saved, so the store state the next evaluation compares
    /// against is what the store holds.
    pub fn saved(&mut self, w: &AlertWrite) {
        if let Some(rule) = self.rules.get_mut(w.rule) {
            if w.alert.state == AlertState::Resolved {
                rule.stored.remove(&w.alert.fingerprint);
            } else {
                rule.stored
                    .insert(w.alert.fingerprint.clone(), w.alert.clone());
            }
        }
    }
}

/// Resolves every open stored alert of rules that are gone (removed by a reload).
/// Each with whether it notifies (it was firing).
pub fn resolve_orphans(rules: Vec<RuleState>, now: i64) -> Vec<(Alert, bool)> {
    rules
        .into_iter()
        .flat_map(|r| r.stored.into_values())
        .map(|mut a| {
            let was_firing = a.state == AlertState::Firing;
            a.state = AlertState::Resolved;
            a.ends_at = Some(ms_to_time(now));
            a.updated_at = ms_to_time(now);
            (a, was_firing)
        })
        .collect()
}

/// The link in every alert of a rule: its entry on the rules page.
pub fn generator_url(external_url: &str, group: &str, rule: &str) -> String {
    format!(
        "{}/rules?group={}&rule={}",
        external_url.trim_end_matches('/'),
        query_escape(group),
        query_escape(rule)
    )
}

/// The group and rule a stored alert's generator URL names, if it came from a rule.
pub fn rule_of_generator_url(url: &str) -> Option<(String, String)> {
    let (_, query) = url.split_once("/rules?")?;
    let mut group = None;
    let mut rule = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("group", v)) => group = Some(query_unescape(v)),
            Some(("rule", v)) => rule = Some(query_unescape(v)),
            _ => {}
        }
    }
    Some((group?, rule?))
}

fn query_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Prometheus's `labels.Hash()` of `{file, name}`: xxHash64 of each name and value
/// followed by `0xff`.
fn group_hash(file: &str, name: &str) -> u64 {
    let mut b = Vec::with_capacity(file.len() + name.len() + 12);
    for (k, v) in [("file", file), ("name", name)] {
        b.extend_from_slice(k.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    twox_hash::XxHash64::oneshot(0, &b)
}

pub fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn write_with_staleness(
    rule: &mut RuleState,
    samples: Vec<SeriesSample>,
    t: i64,
    ctx: &EvalContext<'_>,
) {
    let now: HashSet<LabelSet> = samples.iter().map(|s| s.labels.clone()).collect();
    let mut all = samples;
    // A series this rule wrote last time and not now ends, as Prometheus marks it.
    for gone in rule.previous_series.difference(&now) {
        all.push(SeriesSample {
            labels: gone.clone(),
            t,
            v: stale_marker(),
        });
    }
    rule.previous_series = now;
    if all.is_empty() {
        return;
    }
    if let Err(e) = ctx.storage.append(&all) {
        tracing::warn!(operation = "rule_eval", rule = rule.spec.name.as_str(), error = %e, "cannot write rule series");
    }
}

/// The query's result as samples: a vector as it is, a scalar as one sample without labels.
fn query_samples(
    ctx: &EvalContext<'_>,
    rule: &RuleSpec,
    at: i64,
) -> Result<Vec<(LabelSet, f64)>, String> {
    let r = ctx
        .engine
        .eval_instant(ctx.storage.source(), &rule.expr, at)
        .map_err(|e| e.message)?;
    match r.value {
        QueryValue::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.sample.v)).collect()),
        QueryValue::Scalar { v, .. } => Ok(vec![(LabelSet::default(), v)]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

/// How long selectors found to match series are trusted to still match (series leave
/// the store only with retention).
const SELECTORS_RECHECK_MS: i64 = 60 * 60 * 1000;

/// The selectors of `expr` that match no series in the whole store. One index lookup per
/// selector; only asked when the rule's query returned nothing.
fn missing_series(expr: &promql_parser::parser::Expr, source: &dyn SeriesSource) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    for (text, matchers) in pharos_promql::selectors(expr) {
        let none = source
            .series(&matchers, i64::MIN / 2, i64::MAX / 2)
            .is_ok_and(|s| s.is_empty());
        if none && !missing.contains(&text) {
            missing.push(text);
        }
    }
    missing
}

fn to_map(l: &LabelSet) -> BTreeMap<String, String> {
    l.iter()
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

impl RuleState {
    fn eval_recording(
        &mut self,
        ts: i64,
        offset: i64,
        limit: usize,
        ctx: &EvalContext<'_>,
    ) -> Result<Vec<SeriesSample>, String> {
        let at = ts - offset;
        let samples = query_samples(ctx, &self.spec, at)?;
        self.query_was_empty = samples.is_empty();
        let mut out = Vec::with_capacity(samples.len());
        let mut seen = HashSet::new();
        for (labels, v) in samples {
            let mut l = labels;
            l.set(METRIC_NAME, self.spec.name.clone());
            for (k, val) in &self.spec.labels {
                l.set(k, val.clone());
            }
            if !seen.insert(l.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
            }
            out.push(SeriesSample {
                labels: l,
                t: at,
                v,
            });
        }
        if limit > 0 && out.len() > limit {
            return Err(format!(
                "exceeded limit of {limit} with {} series",
                out.len()
            ));
        }
        Ok(out)
    }

    fn eval_alerting(
        &mut self,
        ts: i64,
        offset: i64,
        limit: usize,
        ctx: &EvalContext<'_>,
    ) -> Result<Vec<SeriesSample>, String> {
        let RuleKind::Alerting {
            hold,
            keep_firing_for,
            label_templates,
            annotations,
            annotation_templates,
        } = &self.spec.kind
        else {
            return Ok(Vec::new());
        };
        let at = ts - offset;
        let samples = query_samples(ctx, &self.spec, at)?;
        self.query_was_empty = samples.is_empty();
        let query = |q: &str| -> Result<QuerySamples, String> {
            let r = ctx
                .engine
                .instant_query(ctx.storage.source(), q, at)
                .map_err(|e| e.message)?;
            match r.value {
                QueryValue::Vector(v) => {
                    Ok(v.iter().map(|s| (to_map(&s.labels), s.sample.v)).collect())
                }
                QueryValue::Scalar { v, .. } => Ok(vec![(BTreeMap::new(), v)]),
                _ => Err("query result is not a vector or scalar".into()),
            }
        };
        let expand = |t: &Template, data: &TemplateData| -> String {
            t.expand(data, &query)
                .unwrap_or_else(|e| format!("<error expanding template: {e}>"))
        };
        let mut found: BTreeMap<String, RuleAlert> = BTreeMap::new();
        for (series, v) in samples {
            let data = TemplateData {
                labels: to_map(&series),
                external_labels: ctx.external_labels.clone(),
                external_url: ctx.external_url.to_string(),
                value: v,
            };
            let mut labels: Labels = to_map(&series.without_metric_name());
            for (k, val) in &self.spec.labels {
                let val = match label_templates.iter().find(|(n, _)| n == k) {
                    Some((_, t)) => expand(t, &data),
                    None => val.clone(),
                };
                // As in Prometheus's label builder, an empty value removes the label.
                if val.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), val);
                }
            }
            labels.insert("alertname".into(), self.spec.name.clone());
            let mut ann = annotations.clone();
            for (k, t) in annotation_templates {
                ann.insert(k.clone(), expand(t, &data));
            }
            let key = Alert::fingerprint_of(&labels);
            if found.contains_key(&key) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            found.insert(
                key,
                RuleAlert {
                    labels,
                    annotations: ann,
                    state: RuleAlertState::Pending,
                    value: v,
                    active_at: ts,
                    fired_at: None,
                    resolved_at: None,
                    keep_firing_since: None,
                },
            );
        }
        for (k, a) in &found {
            match self.active.get_mut(k) {
                Some(existing) if existing.state != RuleAlertState::Inactive => {
                    existing.value = a.value;
                    existing.annotations = a.annotations.clone();
                }
                _ => {
                    self.active.insert(k.clone(), a.clone());
                }
            }
        }
        let hold = hold.as_millis() as i64;
        let keep_for = keep_firing_for.as_millis() as i64;
        let mut out = Vec::new();
        let mut active_count = 0usize;
        let mut remove = Vec::new();
        for (k, a) in self.active.iter_mut() {
            if !found.contains_key(k) {
                let mut keep_firing = false;
                if a.state == RuleAlertState::Firing && keep_for > 0 {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    keep_firing = ts - since < keep_for;
                }
                if a.state == RuleAlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    remove.push(k.clone());
                }
                if a.state != RuleAlertState::Inactive && !keep_firing {
                    a.state = RuleAlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                if !keep_firing {
                    continue;
                }
            } else {
                a.keep_firing_since = None;
            }
            active_count += 1;
            if a.state == RuleAlertState::Pending && ts - a.active_at >= hold {
                a.state = RuleAlertState::Firing;
                a.fired_at = Some(ts);
            }
            if self.restored {
                let mut l: Vec<(String, String)> = a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                l.push((METRIC_NAME.into(), "ALERTS_FOR_STATE".into()));
                out.push(SeriesSample {
                    labels: LabelSet::new(l.clone()),
                    t: at,
                    v: (a.active_at.div_euclid(1000)) as f64,
                });
                l.push((METRIC_NAME.into(), "ALERTS".into()));
                l.push(("alertstate".into(), a.state.as_str().into()));
                out.push(SeriesSample {
                    labels: LabelSet::new(l),
                    t: at,
                    v: 1.0,
                });
            }
        }
        for k in remove {
            self.active.remove(&k);
        }
        if limit > 0 && active_count > limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {limit} with {active_count} alerts"
            ));
        }
        Ok(out)
    }

    /// What the store should hold for this rule now, as changes against what it holds.
    fn store_changes(&self, ts: i64, group: &str, ctx: &EvalContext<'_>) -> Vec<AlertWrite> {
        let now = ms_to_time(ts);
        let mut desired: HashMap<String, (&RuleAlert, AlertState)> = HashMap::new();
        let mut full_labels: HashMap<String, Labels> = HashMap::new();
        for a in self.active.values() {
            let state = match a.state {
                RuleAlertState::Pending => AlertState::Pending,
                RuleAlertState::Firing => AlertState::Firing,
                RuleAlertState::Inactive => continue,
            };
            // External labels go on every alert Pharos sends, as Prometheus's notifier adds them.
            let mut labels = a.labels.clone();
            for (k, v) in ctx.external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let fp = Alert::fingerprint_of(&labels);
            full_labels.insert(fp.clone(), labels);
            desired.insert(fp, (a, state));
        }
        let mut writes = Vec::new();
        for (fp, (a, state)) in &desired {
            let stored = self.stored.get(fp).map(|s| s.state);
            let notify = match (stored, state) {
                // Already firing in the store (also after a restart while it pends again).
                (Some(AlertState::Firing), _) => continue,
                (Some(AlertState::Pending), AlertState::Pending) => continue,
                (_, AlertState::Firing) => true,
                _ => false,
            };
            writes.push(AlertWrite {
                alert: Alert {
                    fingerprint: fp.clone(),
                    labels: full_labels.remove(fp).unwrap_or_default(),
                    annotations: a.annotations.clone(),
                    state: *state,
                    starts_at: ms_to_time(a.active_at),
                    ends_at: None,
                    generator_url: generator_url(ctx.external_url, group, &self.spec.name),
                    updated_at: now,
                },
                notify,
                rule: 0,
            });
        }
        for (fp, stored) in &self.stored {
            if desired.contains_key(fp) {
                continue;
            }
            let mut alert = stored.clone();
            let was_firing = alert.state == AlertState::Firing;
            alert.state = AlertState::Resolved;
            alert.ends_at = Some(now);
            alert.updated_at = now;
            // The resolved alert carries its last annotations, as Prometheus sends them.
            if let Some(a) = self.active.values().find(|a| {
                let mut l = a.labels.clone();
                for (k, v) in ctx.external_labels {
                    l.entry(k.clone()).or_insert_with(|| v.clone());
                }
                Alert::fingerprint_of(&l) == *fp
            }) {
                alert.annotations = a.annotations.clone();
            }
            writes.push(AlertWrite {
                alert,
                notify: was_firing,
                rule: 0,
            });
        }
        writes.sort_by(|a, b| a.alert.fingerprint.cmp(&b.alert.fingerprint));
        writes
    }
}

/// The shared handle a rule set publishes for the API and UI.
pub type SharedGroupStatus = Arc<std::sync::RwLock<super::status::GroupStatus>>;
