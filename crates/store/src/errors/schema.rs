//! Schema of `errors.db`, in numbered steps like the main database's.

/// The format of `errors.db`: how many schema steps this Pharos knows.
pub const ERRORS_DB_FORMAT: u32 = MIGRATIONS.len() as u32;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: projects and keys, issues, events, performance data, release health
    "
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        platform TEXT,
        source TEXT NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL
    );
    CREATE TABLE project_keys (
        public_key TEXT PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        label TEXT,
        source TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE INDEX project_keys_by_project ON project_keys(project_id);
    CREATE TABLE issues (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        hash TEXT NOT NULL,
        title TEXT NOT NULL,
        culprit TEXT NOT NULL,
        level TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'unresolved',
        substatus TEXT,
        resolved_at INTEGER,
        resolved_in_release TEXT,
        ignore_until INTEGER,
        ignore_until_count INTEGER,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        times_seen INTEGER NOT NULL,
        users INTEGER NOT NULL DEFAULT 0,
        first_release TEXT,
        last_release TEXT,
        last_event_id TEXT,
        UNIQUE (project_id, hash)
    );
    CREATE INDEX issues_by_last_seen ON issues(last_seen);
    CREATE TABLE issue_tags (
        issue_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        times_seen INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (issue_id, key, value)
    ) WITHOUT ROWID;
    CREATE INDEX issue_tags_by_value ON issue_tags(key, value, issue_id);
    CREATE TABLE issue_users (
        issue_id INTEGER NOT NULL,
        user TEXT NOT NULL,
        PRIMARY KEY (issue_id, user)
    ) WITHOUT ROWID;
    CREATE TABLE issue_hourly (
        issue_id INTEGER NOT NULL,
        hour INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (issue_id, hour)
    ) WITHOUT ROWID;
    CREATE TABLE issue_minutely (
        issue_id INTEGER NOT NULL,
        minute INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (issue_id, minute)
    ) WITHOUT ROWID;
    CREATE INDEX issue_minutely_by_minute ON issue_minutely(minute);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        issue_id INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        received INTEGER NOT NULL,
        level TEXT NOT NULL,
        environment TEXT,
        release TEXT,
        payload BLOB NOT NULL,
        UNIQUE (project_id, event_id)
    );
    CREATE INDEX events_by_issue ON events(issue_id, id);
    CREATE INDEX events_by_received ON events(received);
    CREATE TABLE attachments (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT,
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        received INTEGER NOT NULL
    );
    CREATE INDEX attachments_by_event ON attachments(project_id, event_id);
    CREATE TABLE transactions (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        name TEXT NOT NULL,
        op TEXT,
        status TEXT NOT NULL,
        start INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        environment TEXT,
        release TEXT,
        trace_id TEXT,
        span_count INTEGER NOT NULL,
        received INTEGER NOT NULL,
        payload BLOB NOT NULL,
        UNIQUE (project_id, event_id)
    );
    CREATE INDEX transactions_by_name ON transactions(project_id, name, start);
    CREATE INDEX transactions_by_start ON transactions(start);
    CREATE TABLE sessions (
        project_id INTEGER NOT NULL,
        release TEXT NOT NULL,
        environment TEXT NOT NULL,
        hour INTEGER NOT NULL,
        total INTEGER NOT NULL,
        exited INTEGER NOT NULL,
        errored INTEGER NOT NULL,
        crashed INTEGER NOT NULL,
        abnormal INTEGER NOT NULL,
        PRIMARY KEY (project_id, release, environment, hour)
    ) WITHOUT ROWID;
    CREATE TABLE sentry_logs (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        level TEXT NOT NULL,
        body TEXT NOT NULL,
        trace_id TEXT,
        payload TEXT NOT NULL
    );
    CREATE INDEX sentry_logs_by_time ON sentry_logs(project_id, timestamp);
    CREATE TABLE client_reports (
        project_id INTEGER NOT NULL,
        day INTEGER NOT NULL,
        reason TEXT NOT NULL,
        category TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        PRIMARY KEY (project_id, day, reason, category)
    ) WITHOUT ROWID;
    ",
    // Error events keep their trace id, so a log line or a transaction finds them.
    "
    ALTER TABLE events ADD COLUMN trace_id TEXT;
    CREATE INDEX events_by_trace ON events(trace_id) WHERE trace_id IS NOT NULL;
    CREATE INDEX transactions_by_trace ON transactions(trace_id) WHERE trace_id IS NOT NULL;
    ",
    // A row the readiness check rewrites: a real write, so a full disk shows.
    "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    ",
    // Spans, whatever the SDK: streamed `span` items (sentry-sdk 3.x) and the spans of
    // transaction events (2.x). The unique key leads with the trace id, so it also finds a
    // trace's spans; a transaction keeps its segment span's id to find its waterfall;
    // retention deletes by arrival.
    "
    CREATE TABLE spans (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_span_id TEXT,
        segment_id TEXT,
        is_segment INTEGER NOT NULL,
        name TEXT NOT NULL,
        op TEXT,
        status TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        environment TEXT,
        release TEXT,
        attributes TEXT NOT NULL,
        received INTEGER NOT NULL,
        UNIQUE (trace_id, span_id, project_id)
    );
    CREATE INDEX spans_by_segment ON spans(project_id, segment_id, start_us);
    CREATE INDEX spans_by_received ON spans(received);
    ALTER TABLE transactions ADD COLUMN span_id TEXT;
    ",
    // User feedback, and triage: who an issue is assigned to, its activity (comments,
    // assignments, merges) and the fingerprint hashes of issues merged into another.
    "
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL,
        feedback_id TEXT NOT NULL,
        associated_event_id TEXT,
        source TEXT NOT NULL,
        message TEXT NOT NULL,
        name TEXT,
        email TEXT,
        url TEXT,
        environment TEXT,
        release TEXT,
        timestamp INTEGER NOT NULL,
        received INTEGER NOT NULL,
        UNIQUE (project_id, feedback_id)
    );
    CREATE INDEX feedback_by_event ON feedback(project_id, associated_event_id)
        WHERE associated_event_id IS NOT NULL;
    CREATE INDEX feedback_by_received ON feedback(project_id, received);
    ALTER TABLE issues ADD COLUMN assignee_id INTEGER;
    ALTER TABLE issues ADD COLUMN assignee_name TEXT;
    CREATE INDEX issues_by_assignee ON issues(assignee_id) WHERE assignee_id IS NOT NULL;
    CREATE TABLE issue_activity (
        id INTEGER PRIMARY KEY,
        issue_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT
    );
    CREATE INDEX issue_activity_by_issue ON issue_activity(issue_id, id);
    CREATE TABLE issue_aliases (
        project_id INTEGER NOT NULL,
        hash TEXT NOT NULL,
        issue_id INTEGER NOT NULL,
        PRIMARY KEY (project_id, hash)
    ) WITHOUT ROWID;
    CREATE INDEX issue_aliases_by_issue ON issue_aliases(issue_id);
    CREATE TABLE merged_issues (
        issue_id INTEGER PRIMARY KEY,
        merged_into INTEGER NOT NULL
    );
    ",
];
