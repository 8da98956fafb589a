//! Heartbeat pings (healthchecks.io's URL scheme): whoever knows a heartbeat's ping URL
//! reports a start, a success, a failure or an exit code for that heartbeat only.

use pharos_evaluate::PingError;
use pharos_ingest::heartbeat::{parse_ping_action, ping_message};
use pharos_model::MonitorId;

use crate::{App, AppError};

impl App {
    /// Records one ping of the heartbeat whose token is `token`; `action` is the URL's
    /// last segment (`start`, `fail`, an exit code) and `body` the optional message.
    pub async fn ping(
        &self,
        token: &str,
        action: Option<&str>,
        body: &[u8],
    ) -> Result<MonitorId, AppError> {
        let kind = parse_ping_action(action).map_err(|e| AppError::invalid(e.to_string()))?;
        match self.engine.ping(token, kind, ping_message(body)).await {
            Ok(monitor) => {
                tracing::debug!(operation = "heartbeat_ping", monitor = %monitor, kind = ?kind, "ping received");
                Ok(monitor)
            }
            Err(PingError::UnknownToken) => Err(AppError::NotFound("ping URL".into())),
            Err(PingError::Store(e)) => {
                tracing::error!(operation = "heartbeat_ping", error_type = "store", error = %e, "ping not recorded");
                Err(AppError::Unavailable("ping not recorded, try again".into()))
            }
        }
    }
}
