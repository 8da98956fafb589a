//! Who asks for an operation. The HTTP edge and the listeners establish it (the admin
//! token or UI session, a project's DSN key, a heartbeat's ping URL); operations decide
//! with it what the caller may do.

use std::fmt;

use crate::AppError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The admin token or a signed-in UI session: every operation.
    Admin,
    /// A Sentry SDK holding a project's public DSN key: that project's ingest, and the
    /// heartbeat monitors its cron check-ins describe.
    ProjectKey { project: i64 },
    /// Whoever knows a heartbeat's ping URL: that heartbeat's pings only.
    AnonymousPing,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin)
    }

    /// Allows what only an admin may do; `what` names it in the refusal ("change silences").
    pub fn require_admin(&self, what: &str) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("the {self} may not {what}")))
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Admin => f.write_str("admin"),
            Caller::ProjectKey { project } => write!(f, "project {project} key"),
            Caller::AnonymousPing => f.write_str("ping URL"),
        }
    }
}
