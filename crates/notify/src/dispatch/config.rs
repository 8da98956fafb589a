//! The routing sections of `pharos.yaml` in Alertmanager's layout (`route`,
//! `inhibit_rules`, `time_intervals`, `mute_time_intervals`), and their checked form
//! [`Routing`]: a flattened route tree with Alertmanager's defaults and inheritance
//! applied, compiled matchers, and every receiver and time interval reference verified.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, TimeZone, Utc};
use pharos_model::series::MatchOp;
use pharos_model::{HumanDuration, Labels};
use serde::{Deserialize, Serialize};

use super::inhibit::InhibitRule;
use super::matchers::{Matchers, parse_matchers};
use super::time_intervals::{NamedTimeIntervalConfig, TimeIntervals};

/// Alertmanager's documented defaults for the root route.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// Alertmanager's `resolve_timeout`: an alert posted without `endsAt` resolves when it
/// has not been posted again for this long.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

fn is_false(b: &bool) -> bool {
    !*b
}

/// One node of `route:` as the user wrote it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// `['...']` groups by every label; left out, the parent's grouping applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue", skip_serializing_if = "is_false")]
    pub continue_matching: bool,
    /// Deprecated in Alertmanager, still accepted: equality matchers.
    #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub match_equal: BTreeMap<String, String>,
    /// Deprecated in Alertmanager, still accepted: regex matchers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_re: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_time_intervals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    /// Pharos's extension: instead of notifying as alerts come, send what this route
    /// collected once a day. Left out of `config.original` so Alertmanager's tools still
    /// read it.
    #[serde(default, skip_serializing)]
    pub digest: Option<DigestConfig>,
    /// Pharos's extension: the escalation policy (`escalation_policies[].name`) for this
    /// route's incidents; not inherited by child routes. Left out of `config.original`.
    #[serde(default, skip_serializing)]
    pub escalation: Option<String>,
}

/// `digest: {at: "09:00", timezone: "Europe/Berlin"}`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// Time of day, `HH:MM`.
    pub at: String,
    /// IANA time zone; UTC when left out.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `inhibit_rules[]`
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_matchers: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match_re: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match_re: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}

/// A routing config error: the field at fault (`route.routes[1].receiver`) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RoutingError {
    pub field: String,
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> RoutingError {
    RoutingError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum GroupBy {
    /// `['...']`: every label, so each alert is its own group.
    All,
    Labels(Vec<String>),
}

impl GroupBy {
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// A checked route with everything inherited resolved.
#[derive(Clone, Debug)]
pub struct RouteNode {
    pub children: Vec<usize>,
    /// Alertmanager's route key: the matchers of the path from the root, `{}/{team="db"}`.
    pub key: String,
    pub matchers: Matchers,
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    /// Zero only in the implicit route (no `route:` in the config): notify on every change.
    pub group_interval: Duration,
    /// `None` only in the implicit route: never repeat.
    pub repeat_interval: Option<Duration>,
    pub continue_matching: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub digest: Option<Digest>,
    /// The escalation policy of this route's incidents.
    pub escalation: Option<String>,
}

/// The routing in force; swapped whole on config reload.
#[derive(Clone, Debug)]
pub struct Routing {
    /// `routes[0]` is the root. Empty: no receivers, nothing is sent.
    pub routes: Vec<RouteNode>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub time_intervals: BTreeMap<String, TimeIntervals>,
    pub receivers: Vec<String>,
    /// The routing sections as Alertmanager's YAML, for `GET /api/v2/status`.
    pub original: String,
    pub resolve_timeout: Duration,
}

impl Default for Routing {
    fn default() -> Routing {
        Routing::every_receiver(&[])
    }
}

impl RouteConfig {
    /// The implicit route when a config has no `route:` section, written as Alertmanager's
    /// YAML for `amtool config routes`: a root with one `continue: true` child per
    /// receiver. [`Routing::every_receiver`] is what it compiles to.
    pub fn every_receiver(receivers: &[String]) -> RouteConfig {
        RouteConfig {
            receiver: Some(receivers.first().cloned().unwrap_or_default()),
            group_by: Some(vec!["...".into()]),
            routes: receivers
                .iter()
                .map(|r| RouteConfig {
                    receiver: Some(r.clone()),
                    continue_matching: true,
                    ..RouteConfig::default()
                })
                .collect(),
            ..RouteConfig::default()
        }
    }
}

impl Routing {
    /// Without a `route:` section every receiver gets every alert, one notification per
    /// alert change, as before routing existed: a root with one `continue: true` child per
    /// receiver, grouping by every label, no waiting and no repeats.
    pub fn every_receiver(receivers: &[String]) -> Routing {
        let implicit = |receiver: &str, key: String| RouteNode {
            children: Vec::new(),
            key,
            matchers: Matchers::default(),
            receiver: receiver.to_string(),
            group_by: GroupBy::All,
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            repeat_interval: None,
            continue_matching: true,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            digest: None,
            escalation: None,
        };
        let mut root = implicit("", "{}".into());
        let mut routes = Vec::new();
        for (i, r) in receivers.iter().enumerate() {
            root.children.push(i + 1);
            // The same key as the root: the receivers' groups of the same alerts are one
            // group to the outside (one incident, one row of deliveries); the notification
            // log stays apart per receiver because it is keyed by group and receiver.
            routes.push(implicit(r, "{}".into()));
        }
        routes.insert(0, root);
        Routing {
            routes,
            inhibit_rules: Vec::new(),
            time_intervals: BTreeMap::new(),
            receivers: receivers.to_vec(),
            original: String::new(),
            resolve_timeout: RESOLVE_TIMEOUT,
        }
    }

    /// Checks the sections against each other and against the receivers' names.
    pub fn from_config(
        route: Option<&RouteConfig>,
        inhibit_rules: &[InhibitRuleConfig],
        time_intervals: &[NamedTimeIntervalConfig],
        mute_time_intervals: &[NamedTimeIntervalConfig],
        receivers: &[String],
    ) -> Result<Routing, RoutingError> {
        let mut intervals = BTreeMap::new();
        for (section, list) in [
            ("time_intervals", time_intervals),
            ("mute_time_intervals", mute_time_intervals),
        ] {
            for (i, named) in list.iter().enumerate() {
                let field = format!("{section}[{i}]");
                if named.name.trim().is_empty() {
                    return Err(err(format!("{field}.name"), "must not be empty"));
                }
                let set = TimeIntervals::from_config(&named.time_intervals)
                    .map_err(|e| err(field.clone(), e.to_string()))?;
                if intervals.insert(named.name.clone(), set).is_some() {
                    return Err(err(
                        format!("{field}.name"),
                        format!("a time interval named {:?} is defined twice", named.name),
                    ));
                }
            }
        }
        let mut inhibit = Vec::new();
        for (i, r) in inhibit_rules.iter().enumerate() {
            inhibit.push(
                InhibitRule::from_config(r)
                    .map_err(|e| err(format!("inhibit_rules[{i}].{}", e.field), e.message))?,
            );
        }
        let Some(route) = route else {
            let mut routing = Routing::every_receiver(receivers);
            routing.inhibit_rules = inhibit;
            routing.time_intervals = intervals;
            return Ok(routing);
        };
        let Some(root_receiver) = route.receiver.as_deref() else {
            return Err(err(
                "route.receiver",
                "the root route needs a receiver (alerts no other route takes go there)",
            ));
        };
        if !route.matchers.is_empty() || !route.match_equal.is_empty() || !route.match_re.is_empty()
        {
            return Err(err(
                "route.matchers",
                "the root route must not have matchers",
            ));
        }
        for (field, list) in [
            ("mute_time_intervals", &route.mute_time_intervals),
            ("active_time_intervals", &route.active_time_intervals),
        ] {
            if !list.is_empty() {
                return Err(err(
                    format!("route.{field}"),
                    "the root route cannot have time intervals",
                ));
            }
        }
        let root = Inherited {
            receiver: root_receiver.to_string(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
        };
        let mut routes = Vec::new();
        let check = Check {
            receivers,
            intervals: &intervals,
        };
        check.add(route, "route", &root, None, &mut routes)?;
        Ok(Routing {
            routes,
            inhibit_rules: inhibit,
            time_intervals: intervals,
            receivers: receivers.to_vec(),
            original: String::new(),
            resolve_timeout: RESOLVE_TIMEOUT,
        })
    }

    /// The routes an alert goes to, in order: the deepest matching route of each branch
    /// followed, continuing past a match only where `continue: true` says so.
    pub fn routes_for(&self, labels: &Labels) -> Vec<usize> {
        let mut out = Vec::new();
        if !self.routes.is_empty() {
            self.match_route(0, labels, &mut out);
        }
        out
    }

    fn match_route(&self, id: usize, labels: &Labels, out: &mut Vec<usize>) -> bool {
        let node = &self.routes[id];
        if !node.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        for &child in &node.children {
            let matched = self.match_route(child, labels, out);
            if matched && !self.routes[child].continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(id);
        }
        true
    }

    /// The receivers an alert reaches (for the API's `receivers` field).
    pub fn receivers_for(&self, labels: &Labels) -> Vec<String> {
        let mut names: Vec<String> = self
            .routes_for(labels)
            .into_iter()
            .map(|r| self.routes[r].receiver.clone())
            .filter(|r| !r.is_empty())
            .collect();
        names.dedup();
        names
    }

    /// Whether a route is muted now by its `mute_time_intervals` or outside its
    /// `active_time_intervals`; the name of the interval that mutes it.
    pub fn route_muted_by(&self, route: usize, at: DateTime<Utc>) -> Option<String> {
        let node = &self.routes[route];
        for name in &node.mute_time_intervals {
            if self
                .time_intervals
                .get(name)
                .is_some_and(|t| t.contains(at))
            {
                return Some(name.clone());
            }
        }
        if !node.active_time_intervals.is_empty()
            && !node
                .active_time_intervals
                .iter()
                .any(|n| self.time_intervals.get(n).is_some_and(|t| t.contains(at)))
        {
            return Some(node.active_time_intervals.join(","));
        }
        None
    }
}

struct Inherited {
    receiver: String,
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
}

struct Check<'a> {
    receivers: &'a [String],
    intervals: &'a BTreeMap<String, TimeIntervals>,
}

impl Check<'_> {
    fn add(
        &self,
        c: &RouteConfig,
        field: &str,
        parent: &Inherited,
        parent_key: Option<&str>,
        routes: &mut Vec<RouteNode>,
    ) -> Result<usize, RoutingError> {
        let mut matchers = Matchers::default();
        for (name, value) in &c.match_equal {
            matchers
                .push(name, MatchOp::Equal, value)
                .map_err(|e| err(format!("{field}.match"), e.to_string()))?;
        }
        for (name, value) in &c.match_re {
            matchers
                .push(name, MatchOp::Regex, value)
                .map_err(|e| err(format!("{field}.match_re.{name}"), e.to_string()))?;
        }
        for (i, m) in c.matchers.iter().enumerate() {
            matchers.0.extend(
                parse_matchers(m)
                    .map_err(|e| err(format!("{field}.matchers[{i}]"), e.to_string()))?,
            );
        }
        let receiver = c
            .receiver
            .clone()
            .unwrap_or_else(|| parent.receiver.clone());
        if !self.receivers.contains(&receiver) {
            return Err(err(
                format!("{field}.receiver"),
                format!("receiver {receiver:?} is not defined in `receivers`"),
            ));
        }
        let group_by = match &c.group_by {
            None => parent.group_by.clone(),
            Some(names) if names.iter().any(|n| n == "...") => {
                if names.len() > 1 {
                    return Err(err(
                        format!("{field}.group_by"),
                        "'...' groups by every label and cannot be combined with label names",
                    ));
                }
                GroupBy::All
            }
            Some(names) => {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                GroupBy::Labels(names)
            }
        };
        let nonzero = |name: &str, d: Option<HumanDuration>, inherited: Duration| match d {
            Some(d) if d.is_zero() && name != "group_wait" => {
                Err(err(format!("{field}.{name}"), "cannot be zero"))
            }
            Some(d) => Ok(d.as_duration()),
            None => Ok(inherited),
        };
        let group_wait = nonzero("group_wait", c.group_wait, parent.group_wait)?;
        let group_interval = nonzero("group_interval", c.group_interval, parent.group_interval)?;
        let repeat_interval =
            nonzero("repeat_interval", c.repeat_interval, parent.repeat_interval)?;
        for (list, name) in [
            (&c.mute_time_intervals, "mute_time_intervals"),
            (&c.active_time_intervals, "active_time_intervals"),
        ] {
            for (i, t) in list.iter().enumerate() {
                if !self.intervals.contains_key(t) {
                    return Err(err(
                        format!("{field}.{name}[{i}]"),
                        format!("time interval {t:?} is not defined in `time_intervals`"),
                    ));
                }
            }
        }
        let digest = match &c.digest {
            None => None,
            Some(d) => Some(
                Digest::from_config(d).map_err(|e| err(format!("{field}.digest.{}", e.0), e.1))?,
            ),
        };
        let key = match parent_key {
            None => matchers.to_string(),
            Some(p) => format!("{p}/{matchers}"),
        };
        let id = routes.len();
        routes.push(RouteNode {
            children: Vec::new(),
            key: key.clone(),
            matchers,
            receiver: receiver.clone(),
            group_by: group_by.clone(),
            group_wait,
            group_interval,
            repeat_interval: Some(repeat_interval),
            continue_matching: c.continue_matching,
            mute_time_intervals: c.mute_time_intervals.clone(),
            active_time_intervals: c.active_time_intervals.clone(),
            digest,
            escalation: c.escalation.clone(),
        });
        let inherited = Inherited {
            receiver,
            group_by,
            group_wait,
            group_interval,
            repeat_interval,
        };
        for (i, child) in c.routes.iter().enumerate() {
            let child_id = self.add(
                child,
                &format!("{field}.routes[{i}]"),
                &inherited,
                Some(&key),
                routes,
            )?;
            routes[id].children.push(child_id);
        }
        Ok(id)
    }
}

/// A daily digest: the route's alerts are sent together once a day at `at` in `zone`.
#[derive(Clone, Debug, PartialEq)]
pub struct Digest {
    pub at: NaiveTime,
    pub zone: chrono_tz::Tz,
}

impl Digest {
    fn from_config(c: &DigestConfig) -> Result<Digest, (&'static str, String)> {
        let at = NaiveTime::parse_from_str(c.at.trim(), "%H:%M")
            .map_err(|_| ("at", format!("{:?} is not a time of day (HH:MM)", c.at)))?;
        let zone = match c.timezone.as_deref() {
            None | Some("") | Some("UTC") => chrono_tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| ("timezone", format!("unknown time zone {name:?}")))?,
        };
        Ok(Digest { at, zone })
    }

    /// The latest digest time at or before `t`.
    pub fn last_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.zone).date_naive();
        for back in 0..3 {
            let day = local - ChronoDuration::days(back);
            if let Some(at) = self
                .zone
                .from_local_datetime(&day.and_time(self.at))
                .earliest()
                .map(|d| d.with_timezone(&Utc))
                && at <= t
            {
                return at;
            }
        }
        t - ChronoDuration::days(1)
    }

    /// The first digest time after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.zone).date_naive();
        for ahead in 0..3 {
            let day = local + ChronoDuration::days(ahead);
            // A time skipped by a daylight-saving change falls an hour later that day.
            let at = self
                .zone
                .from_local_datetime(&day.and_time(self.at))
                .earliest()
                .or_else(|| {
                    self.zone
                        .from_local_datetime(&(day.and_time(self.at) + ChronoDuration::hours(1)))
                        .earliest()
                })
                .map(|d| d.with_timezone(&Utc));
            if let Some(at) = at
                && at > t
            {
                return at;
            }
        }
        t + ChronoDuration::days(1)
    }
}
