//! Heartbeat pings: `/ping/<token>`, `/ping/<token>/start`, `/ping/<token>/fail` and
//! `/ping/<token>/<exit-code>`, by GET, HEAD or POST, as healthchecks.io accepts them.

use pharos_model::PingKind;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PingError {
    #[error("unknown ping action {0:?}: use /start, /fail or an exit code 0-255")]
    UnknownAction(String),
}

/// Reads what follows the token in a ping URL.
pub fn parse_ping_action(action: Option<&str>) -> Result<PingKind, PingError> {
    match action.map(|a| a.trim_end_matches('/')) {
        None | Some("") => Ok(PingKind::Success),
        Some("start") => Ok(PingKind::Start),
        Some("fail") => Ok(PingKind::Fail),
        Some(code) => code
            .parse::<u8>()
            .map(PingKind::ExitCode)
            .map_err(|_| PingError::UnknownAction(code.to_string())),
    }
}

/// Pings may carry a body (a job's output); we keep a bounded excerpt as the result's message.
pub const PING_BODY_LIMIT: usize = 10 * 1024;

/// The excerpt of a ping body stored with the result, cut at a character boundary.
pub fn ping_message(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(PING_BODY_LIMIT)]);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(parse_ping_action(None), Ok(PingKind::Success));
        assert_eq!(parse_ping_action(Some("start")), Ok(PingKind::Start));
        assert_eq!(parse_ping_action(Some("fail")), Ok(PingKind::Fail));
        assert_eq!(parse_ping_action(Some("0")), Ok(PingKind::ExitCode(0)));
        assert_eq!(parse_ping_action(Some("137")), Ok(PingKind::ExitCode(137)));
        assert!(parse_ping_action(Some("256")).is_err());
        assert!(parse_ping_action(Some("log")).is_err());
    }
}
