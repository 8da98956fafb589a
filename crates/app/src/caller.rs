//! Who asks for an operation. The HTTP edge and the listeners establish it (the admin
//! token, a signed-in user's session, an API token, a project's DSN key, a heartbeat's
//! ping URL); operations decide with it what the caller may do.

use std::fmt;

use pharos_model::access::{Permission, Role, Scope};

use crate::AppError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The admin token (the break-glass credential), or a session opened with it: every
    /// operation.
    Admin,
    /// A person signed in with their name and password.
    User { name: String, role: Role },
    /// An API token made by an admin, limited to its scopes.
    Token {
        id: i64,
        name: String,
        scopes: Vec<Scope>,
    },
    /// A Sentry SDK holding a project's public DSN key: that project's ingest, and the
    /// heartbeat monitors its cron check-ins describe.
    ProjectKey { project: i64 },
    /// Whoever knows a heartbeat's ping URL: that heartbeat's pings only.
    AnonymousPing,
    /// No credential: the pages and reads the config makes public.
    Anonymous,
}

impl Caller {
    pub fn allows(&self, p: Permission) -> bool {
        match self {
            Caller::Admin => true,
            Caller::User { role, .. } => role.allows(p),
            Caller::Token { scopes, .. } => scopes.iter().any(|s| s.allows(p)),
            Caller::ProjectKey { .. } | Caller::AnonymousPing | Caller::Anonymous => false,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.allows(Permission::Admin)
    }

    /// True for a person or program that presented a credential of this server's own
    /// (not a DSN key or a ping URL): who may see pages beyond the public ones.
    pub fn is_signed_in(&self) -> bool {
        matches!(
            self,
            Caller::Admin | Caller::User { .. } | Caller::Token { .. }
        )
    }

    /// True for a person signed in with their own name: they act as themselves, so pages
    /// do not ask who they are and a name in a request does not speak for them.
    pub fn is_person(&self) -> bool {
        matches!(self, Caller::User { .. })
    }

    /// Allows what needs `p`; `what` names the operation in the refusal ("change silences").
    pub fn require(&self, p: Permission, what: &str) -> Result<(), AppError> {
        if self.allows(p) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "the {self} may not {what} (it needs the {p} permission)"
            )))
        }
    }

    /// Allows what only an admin may do.
    pub fn require_admin(&self, what: &str) -> Result<(), AppError> {
        self.require(Permission::Admin, what)
    }

    /// The name recorded where a change is attributed (incident timelines, token owners).
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin => "admin".into(),
            Caller::User { name, .. } => name.clone(),
            Caller::Token { name, .. } => format!("token {name}"),
            other => other.to_string(),
        }
    }

    /// Who a change is recorded as when the request names someone (`by`): a signed-in
    /// person is always themselves, whatever the request says; a token or the admin token
    /// may act for someone (a chat bot acknowledging for the person who pressed its
    /// button), and the record says through which credential.
    pub fn actor_naming(&self, named: Option<&str>) -> String {
        let named = named.map(str::trim).filter(|n| !n.is_empty());
        match (self, named) {
            (Caller::User { name, .. }, _) => name.clone(),
            (_, Some(n)) => format!("{n} (via {})", self.actor()),
            (_, None) => self.actor(),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Admin => f.write_str("admin"),
            Caller::User { name, role } => write!(f, "{role} {name}"),
            Caller::Token { name, .. } => write!(f, "token {name:?}"),
            Caller::ProjectKey { project } => write!(f, "project {project} key"),
            Caller::AnonymousPing => f.write_str("ping URL"),
            Caller::Anonymous => f.write_str("anonymous visitor"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_caller_gets_what_its_role_or_scopes_allow() {
        let viewer = Caller::User {
            name: "v".into(),
            role: Role::Viewer,
        };
        assert!(viewer.require(Permission::Read, "read").is_ok());
        let e = viewer
            .require(Permission::Edit, "change silences")
            .unwrap_err();
        assert!(matches!(e, AppError::Forbidden(_)), "{e}");
        let shipper = Caller::Token {
            id: 1,
            name: "shipper".into(),
            scopes: vec![Scope::LogsWrite],
        };
        assert!(shipper.allows(Permission::IngestLogs));
        assert!(!shipper.allows(Permission::Read));
        assert!(!Caller::Anonymous.is_signed_in());
        assert!(!Caller::ProjectKey { project: 1 }.allows(Permission::Read));
        assert!(Caller::Admin.is_admin());
        assert_eq!(
            viewer.actor_naming(Some("mallory")),
            "v",
            "a person is themselves"
        );
        assert_eq!(
            shipper.actor_naming(Some("alice")),
            "alice (via token shipper)"
        );
        assert_eq!(shipper.actor_naming(Some("  ")), "token shipper");
        assert_eq!(Caller::Admin.actor_naming(None), "admin");
    }
}
