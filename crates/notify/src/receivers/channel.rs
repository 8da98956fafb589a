//! The receiver every channel shares: its name in the delivery log, its config as the
//! API shows it (credentials redacted by their types), and `send_resolved`. A channel's
//! file says only what is its own: the payload for a notification and how a payload is
//! sent ([`Channel`]).

use std::borrow::Cow;

use pharos_model::{AlertState, Notification};
use serde::Serialize;

use crate::{BoxFuture, Receiver, SendError};

/// A channel's config and what it does with a notification.
pub trait Channel: Serialize + Send + Sync + 'static {
    /// The kind, as the delivery log and the API name it (`ntfy`).
    const INTEGRATION: &'static str;

    /// Whether a group whose alerts all resolved is sent.
    fn send_resolved(&self) -> bool;

    /// The payload stored for `n` (without credentials), or `None` to send nothing.
    fn payload(&self, n: &Notification) -> Option<String>;

    /// The requests a stored payload is sent as (see [`Receiver::parts`]).
    fn parts<'a>(&self, payload: &'a str) -> Vec<Cow<'a, str>> {
        vec![Cow::Borrowed(payload)]
    }

    /// Sends one part, adding the credentials.
    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>>;
}

/// The receiver of one configured integration of a [`Channel`].
pub struct ChannelReceiver<C> {
    name: String,
    config: C,
}

impl<C: Channel> ChannelReceiver<C> {
    pub fn new(name: String, config: C) -> Self {
        ChannelReceiver { name, config }
    }
}

impl<C: Channel> Receiver for ChannelReceiver<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn integration(&self) -> &'static str {
        C::INTEGRATION
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn payload_for(&self, n: &Notification) -> Option<String> {
        if n.status() == AlertState::Resolved && !self.config.send_resolved() {
            return None;
        }
        self.config.payload(n)
    }

    fn parts<'a>(&self, payload: &'a str) -> Vec<Cow<'a, str>> {
        self.config.parts(payload)
    }

    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        part: &'a str,
    ) -> BoxFuture<'a, Result<u16, SendError>> {
        self.config.send(client, part)
    }
}
