-- Kaptain store, SQLite. Times are microseconds since the Unix epoch (UTC), as INTEGER.
-- Keep in step with ../postgres/0001_init.sql: same tables, columns and meaning.

-- One row per occurrence of a finding: a finding that clears and comes back gets a new row.
CREATE TABLE findings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster       TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL,
    check_id      TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    severity_rank INTEGER NOT NULL,  -- info 0 .. critical 4
    namespace     TEXT,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    is_root       INTEGER NOT NULL,  -- 0/1
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    cleared_at    INTEGER,           -- NULL while open
    content_hash  TEXT    NOT NULL,  -- SHA-256 of `finding`, to update only what changed
    finding       TEXT    NOT NULL   -- kaptain-model's Finding as JSON
);
-- At most one open occurrence per cluster and fingerprint.
CREATE UNIQUE INDEX findings_open_fingerprint ON findings (cluster, fingerprint) WHERE cleared_at IS NULL;
-- The listing order (keyset pagination) and its common filters.
CREATE INDEX findings_order ON findings (severity_rank DESC, first_seen DESC, id DESC);
CREATE INDEX findings_cluster_order ON findings (cluster, severity_rank DESC, first_seen DESC, id DESC);
CREATE INDEX findings_cleared_at ON findings (cleared_at);
CREATE INDEX findings_first_seen ON findings (first_seen);

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster      TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    status       TEXT    NOT NULL,  -- queued | running | succeeded | failed
    progress     REAL    NOT NULL,  -- 0..1
    message      TEXT,
    summary      TEXT,              -- JSON
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX runs_cluster ON runs (cluster, id DESC);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,  -- viewer | operator | admin
    scopes       TEXT    NOT NULL,  -- JSON array of {cluster, namespace}
    secret_hash  TEXT    NOT NULL UNIQUE,  -- hex SHA-256 of the secret
    hint         TEXT    NOT NULL,  -- first characters of the secret, to recognise it
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

-- Append-only, hash-chained (see src/audit.rs for the hash).
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,  -- 1, 2, 3, ... with no gaps
    ts        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL,
    cluster   TEXT,
    details   TEXT    NOT NULL,  -- canonical JSON (sorted keys, no whitespace)
    outcome   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE settings (
    name       TEXT    PRIMARY KEY,
    secret     INTEGER NOT NULL,  -- 0/1
    value      TEXT    NOT NULL,  -- plain text, or base64(nonce || ciphertext) when secret
    updated_at INTEGER NOT NULL
);
