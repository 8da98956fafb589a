//! The database schema, applied in numbered steps so that older data directories upgrade.

use rusqlite::Connection;

use crate::Result;

const MIGRATIONS: &[&str] = &[
    // 1: monitors, results, uptime roll-ups, alerts, deliveries, maintenance
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE monitors (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX monitors_name ON monitors(name, id);
    CREATE TABLE monitor_status (
        monitor_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        state_since INTEGER NOT NULL,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        consecutive_successes INTEGER NOT NULL DEFAULT 0,
        failing_since INTEGER,
        last_check_at INTEGER,
        last_outcome TEXT,
        last_latency_ms REAL,
        last_error TEXT,
        last_ping_at INTEGER,
        last_start_at INTEGER,
        heartbeat_token TEXT UNIQUE
    );
    CREATE TABLE probe_results (
        monitor_id TEXT NOT NULL,
        at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        latency_ms REAL,
        status_code INTEGER,
        error TEXT,
        tls_days_left INTEGER
    );
    CREATE INDEX probe_results_by_monitor ON probe_results(monitor_id, at);
    CREATE TABLE uptime_hourly (
        monitor_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        checks INTEGER NOT NULL,
        up INTEGER NOT NULL,
        degraded INTEGER NOT NULL,
        PRIMARY KEY (monitor_id, hour)
    ) WITHOUT ROWID;
    CREATE TABLE samples (
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        at INTEGER NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_by_series ON samples(metric, labels, at);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        labels TEXT NOT NULL,
        annotations TEXT NOT NULL,
        state TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER,
        generator_url TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX alerts_by_fingerprint ON alerts(fingerprint, id);
    CREATE INDEX alerts_by_update ON alerts(updated_at);
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        receiver TEXT NOT NULL,
        alert_fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        payload TEXT NOT NULL,
        outcome TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        response_status INTEGER,
        next_attempt_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        finished_at INTEGER
    );
    CREATE INDEX deliveries_due ON deliveries(outcome, next_attempt_at);
    CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        monitors TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL
    );
    ",
    // 2: scrape jobs made through the API (credentials sealed by the caller)
    "
    CREATE TABLE scrape_jobs (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        sealed_secrets BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    ",
    // 3: silences and the notification log (routing, issue 5)
    "
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        matchers TEXT NOT NULL,
        starts_at INTEGER NOT NULL,
        ends_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        comment TEXT NOT NULL,
        time_intervals TEXT
    );
    CREATE INDEX silences_by_end ON silences(ends_at);
    CREATE TABLE notification_log (
        group_key TEXT NOT NULL,
        receiver TEXT NOT NULL,
        firing TEXT NOT NULL,
        resolved TEXT NOT NULL,
        notified_at INTEGER NOT NULL,
        PRIMARY KEY (group_key, receiver)
    ) WITHOUT ROWID;
    ",
    // 4: incidents and their timelines (escalation and on-call, issue 5)
    "
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        group_key TEXT NOT NULL,
        receiver TEXT NOT NULL,
        title TEXT NOT NULL,
        group_labels TEXT NOT NULL,
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        resolved_at INTEGER,
        resolved_by TEXT,
        escalation TEXT,
        escalation_step INTEGER NOT NULL DEFAULT 0,
        alerts TEXT NOT NULL,
        search TEXT NOT NULL
    );
    CREATE INDEX incidents_by_group ON incidents(group_key, id);
    CREATE INDEX incidents_by_state ON incidents(state, opened_at);
    CREATE TABLE incident_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id INTEGER NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX incident_events_by_incident ON incident_events(incident_id, at);
    ",
    // 5: the notification history by receiver and by group (receivers page, readiness)
    "
    CREATE INDEX deliveries_by_receiver ON deliveries(receiver, id);
    CREATE INDEX deliveries_by_group ON deliveries(alert_fingerprint, id);
    ",
    // 6: API monitors' credentials, sealed by the caller (the spec keeps them redacted)
    "
    ALTER TABLE monitors ADD COLUMN sealed_secrets BLOB NOT NULL DEFAULT x'';
    ",
    // 7: users, API tokens and browser sessions (secrets only as digests or password hashes)
    "
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_sign_in_at INTEGER
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        digest TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        scopes TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER
    );
    CREATE TABLE browser_sessions (
        digest TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        user_name TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
    );
    CREATE INDEX browser_sessions_by_user ON browser_sessions(user_id);
    ",
    // 8: incidents and maintenance posted on the public status pages, with their updates
    "
    CREATE TABLE status_posts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        page TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        components TEXT NOT NULL,
        starts_at INTEGER,
        ends_at INTEGER,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        resolved_at INTEGER,
        created_by TEXT NOT NULL
    );
    CREATE INDEX status_posts_by_page ON status_posts(page, updated_at);
    CREATE TABLE status_post_updates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        post_id INTEGER NOT NULL REFERENCES status_posts(id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL,
        author TEXT NOT NULL
    );
    CREATE INDEX status_post_updates_by_post ON status_post_updates(post_id, at);
    ",
];

pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    apply(conn, MIGRATIONS)
}

/// The format of `pharos.db`: how many schema steps this Pharos knows.
pub const PHAROS_DB_FORMAT: u32 = MIGRATIONS.len() as u32;

/// Applies the steps a database file has not seen yet (its `user_version` counts them).
/// A file that has seen more steps than this Pharos knows was written by a newer one:
/// it is refused, never used as if it were older.
pub(crate) fn apply(conn: &Connection, migrations: &[&str]) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > migrations.len() as i64 {
        return Err(crate::StoreError::NewerFormat {
            path: conn
                .path()
                .map(std::path::PathBuf::from)
                .unwrap_or_default(),
            found: version,
            known: migrations.len(),
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}
