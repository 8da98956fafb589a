//! What the dispatcher tells another service before each flush: every group as a
//! [`GroupSnapshot`], answered with a link per group for its notifications. The incident
//! service implements [`IncidentHook`]; the dispatcher knows only this trait.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use pharos_model::{Alert, Labels};

use crate::BoxFuture;

/// A dispatcher group as the incident service sees it before a flush.
#[derive(Clone, Debug)]
pub struct GroupSnapshot {
    /// What makes one incident. Without a `route:` section every receiver has a group
    /// of the same alerts, all with this key.
    pub key: String,
    pub labels: Labels,
    /// The route's receiver: level 1.
    pub receiver: String,
    /// The route's escalation policy.
    pub escalation: Option<String>,
    /// Every alert of the group, firing and resolved.
    pub alerts: Vec<Alert>,
    /// Fingerprints silenced or inhibited now (or every one when the route is muted).
    pub muted: Vec<String>,
    /// The group flushes in this pass.
    pub due: bool,
}

/// What the dispatcher calls before each flush: incidents open and change here, and the
/// answer is each group's acknowledgement link for its notifications.
pub trait IncidentHook: Send + Sync {
    fn before_flush<'a>(
        &'a self,
        groups: Vec<GroupSnapshot>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, HashMap<String, String>>;
}
