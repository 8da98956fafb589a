//! Users, API tokens and browser sessions. Secrets are never stored: passwords as their
//! Argon2 hash, tokens and session ids as SHA-256 digests (both are long random strings,
//! so a fast digest is enough and lets a request find its row by equality).

use chrono::{DateTime, Utc};
use pharos_model::access::{ApiToken, Role, Scope, Session, SessionKind, User};
use rusqlite::{OptionalExtension, Row, params};

use crate::{Result, Store, StoreError, from_ms, ms};

/// A user with the hash to check a password against.
pub struct UserCredential {
    pub user: User,
    pub password_hash: String,
}

/// A token found by its digest: who it is and what it may do.
#[derive(Clone, Debug)]
pub struct TokenGrant {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn role(text: String) -> Role {
    // Only this module writes roles; an unknown one (a newer Pharos's) reads as the least.
    text.parse().unwrap_or(Role::Viewer)
}

fn scopes(text: &str) -> Vec<Scope> {
    text.split(' ').filter_map(|s| s.parse().ok()).collect()
}

fn user_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        role: role(r.get(2)?),
        created_at: from_ms(r.get(3)?),
        last_sign_in_at: r.get::<_, Option<i64>>(4)?.map(from_ms),
    })
}

const USER_COLUMNS: &str = "id, name, role, created_at, last_sign_in_at";

fn user_named(c: &rusqlite::Connection, name: &str) -> Result<User> {
    c.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"),
        [name],
        user_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("user {name:?}")))
}

impl Store {
    pub fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User> {
        let now = Utc::now();
        self.write(|c| {
            let inserted = c.execute(
                "INSERT INTO users(name, role, password_hash, created_at) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(name) DO NOTHING",
                params![name, role.as_str(), password_hash, ms(now)],
            )?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("a user named {name:?} exists")));
            }
            Ok(User {
                id: c.last_insert_rowid(),
                name: name.to_string(),
                role,
                created_at: from_ms(ms(now)),
                last_sign_in_at: None,
            })
        })
    }

    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))?;
            let rows = stmt.query_map([], user_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn user_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?))
    }

    pub fn user_credential(&self, name: &str) -> Result<Option<UserCredential>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = ?1"),
                [name],
                |r| {
                    Ok(UserCredential {
                        user: user_row(r)?,
                        password_hash: r.get(5)?,
                    })
                },
            )
            .optional()?)
        })
    }

    pub fn record_sign_in(&self, user_id: i64, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE users SET last_sign_in_at = ?2 WHERE id = ?1",
                params![user_id, ms(at)],
            )?;
            Ok(())
        })
    }

    /// Changes a user's role or password; either ends the user's sessions, so a demoted
    /// user or one whose password leaked is signed out everywhere.
    pub fn update_user(
        &self,
        name: &str,
        role: Option<Role>,
        password_hash: Option<&str>,
    ) -> Result<User> {
        self.write(|c| {
            let tx = c.transaction()?;
            let user = user_named(&tx, name)?;
            if let Some(r) = role {
                tx.execute(
                    "UPDATE users SET role = ?2 WHERE id = ?1",
                    params![user.id, r.as_str()],
                )?;
            }
            if let Some(h) = password_hash {
                tx.execute(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![user.id, h],
                )?;
            }
            tx.execute("DELETE FROM browser_sessions WHERE user_id = ?1", [user.id])?;
            tx.commit()?;
            Ok(User {
                role: role.unwrap_or(user.role),
                ..user
            })
        })
    }

    /// Deletes a user and, with them, their sessions.
    pub fn delete_user(&self, name: &str) -> Result<User> {
        self.write(|c| {
            let tx = c.transaction()?;
            let user = user_named(&tx, name)?;
            tx.execute("DELETE FROM browser_sessions WHERE user_id = ?1", [user.id])?;
            tx.execute("DELETE FROM users WHERE id = ?1", [user.id])?;
            tx.commit()?;
            Ok(user)
        })
    }

    pub fn create_token(
        &self,
        name: &str,
        digest: &str,
        prefix: &str,
        scopes: &[Scope],
        created_by: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<ApiToken> {
        let now = from_ms(ms(Utc::now()));
        let text: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        self.write(|c| {
            c.execute(
                "INSERT INTO api_tokens(name, digest, prefix, scopes, created_at, created_by, expires_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![name, digest, prefix, text.join(" "), ms(now), created_by, expires_at.map(ms)],
            )?;
            Ok(ApiToken {
                id: c.last_insert_rowid(),
                name: name.to_string(),
                scopes: scopes.to_vec(),
                prefix: prefix.to_string(),
                created_at: now,
                created_by: created_by.to_string(),
                expires_at: expires_at.map(|t| from_ms(ms(t))),
                last_used_at: None,
            })
        })
    }

    pub fn tokens(&self) -> Result<Vec<ApiToken>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, scopes, prefix, created_at, created_by, expires_at, last_used_at FROM api_tokens ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(ApiToken {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    scopes: scopes(&r.get::<_, String>(2)?),
                    prefix: r.get(3)?,
                    created_at: from_ms(r.get(4)?),
                    created_by: r.get(5)?,
                    expires_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
                    last_used_at: r.get::<_, Option<i64>>(7)?.map(from_ms),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn token_by_digest(&self, digest: &str) -> Result<Option<TokenGrant>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT id, name, scopes, expires_at FROM api_tokens WHERE digest = ?1",
                [digest],
                |r| {
                    Ok(TokenGrant {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        scopes: scopes(&r.get::<_, String>(2)?),
                        expires_at: r.get::<_, Option<i64>>(3)?.map(from_ms),
                    })
                },
            )
            .optional()?)
        })
    }

    pub fn record_token_use(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                params![id, ms(at)],
            )?;
            Ok(())
        })
    }

    pub fn delete_token(&self, id: i64) -> Result<()> {
        self.write(|c| {
            if c.execute("DELETE FROM api_tokens WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::NotFound(format!("token {id}")));
            }
            Ok(())
        })
    }

    pub fn create_session(&self, digest: &str, s: &Session) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT INTO browser_sessions(digest, kind, user_id, user_name, role, created_at, last_seen_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![digest, s.kind.as_str(), s.user_id, s.user_name, s.role.as_str(), ms(s.created_at), ms(s.last_seen_at)],
            )?;
            Ok(())
        })
    }

    pub fn session(&self, digest: &str) -> Result<Option<Session>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT user_id, user_name, role, created_at, last_seen_at, kind FROM browser_sessions WHERE digest = ?1",
                [digest],
                |r| {
                    Ok(Session {
                        kind: SessionKind::parse(&r.get::<_, String>(5)?),
                        user_id: r.get(0)?,
                        user_name: r.get(1)?,
                        role: role(r.get(2)?),
                        created_at: from_ms(r.get(3)?),
                        last_seen_at: from_ms(r.get(4)?),
                    })
                },
            )
            .optional()?)
        })
    }

    pub fn touch_session(&self, digest: &str, at: DateTime<Utc>) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE browser_sessions SET last_seen_at = ?2 WHERE digest = ?1",
                params![digest, ms(at)],
            )?;
            Ok(())
        })
    }

    pub fn delete_session(&self, digest: &str) -> Result<()> {
        self.write(|c| {
            c.execute("DELETE FROM browser_sessions WHERE digest = ?1", [digest])?;
            Ok(())
        })
    }

    /// Drops sessions idle since `idle_before` or opened before `created_before`.
    pub fn purge_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
    ) -> Result<usize> {
        self.write(|c| {
            Ok(c.execute(
                "DELETE FROM browser_sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                params![ms(idle_before), ms(created_before)],
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_store;

    #[test]
    fn users_tokens_and_sessions() {
        let (store, dir) = temp_store();
        let u = store
            .create_user("Ana", Role::Editor, "$argon2id$x")
            .unwrap();
        assert!(matches!(
            store.create_user("ana", Role::Viewer, "h"),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.user_credential("ANA").unwrap().unwrap().user.id, u.id);
        let s = Session {
            kind: SessionKind::Password,
            user_id: Some(u.id),
            user_name: "Ana".into(),
            role: Role::Editor,
            created_at: Utc::now(),
            last_seen_at: Utc::now(),
        };
        store.create_session("d1", &s).unwrap();
        assert_eq!(store.session("d1").unwrap().unwrap().role, Role::Editor);
        // A role change signs the user out everywhere.
        let u2 = store.update_user("ana", Some(Role::Viewer), None).unwrap();
        assert_eq!(u2.role, Role::Viewer);
        assert!(store.session("d1").unwrap().is_none());

        let t = store
            .create_token("shipper", "dg", "phr_ab", &[Scope::LogsWrite], "Ana", None)
            .unwrap();
        let g = store.token_by_digest("dg").unwrap().unwrap();
        assert_eq!(g.scopes, vec![Scope::LogsWrite]);
        store.record_token_use(t.id, Utc::now()).unwrap();
        assert!(store.tokens().unwrap()[0].last_used_at.is_some());
        store.delete_token(t.id).unwrap();
        assert!(store.token_by_digest("dg").unwrap().is_none());

        store.create_session("d2", &s).unwrap();
        store.delete_user("ana").unwrap();
        assert!(store.session("d2").unwrap().is_none());
        std::fs::remove_dir_all(dir).ok();
    }
}
