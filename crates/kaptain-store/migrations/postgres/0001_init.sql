-- Kaptain store, PostgreSQL. Times are microseconds since the Unix epoch (UTC), as BIGINT.
-- Keep in step with ../sqlite/0001_init.sql: same tables, columns and meaning.

-- One row per occurrence of a finding: a finding that clears and comes back gets a new row.
CREATE TABLE findings (
    id            BIGSERIAL PRIMARY KEY,
    cluster       TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL,
    check_id      TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    severity_rank BIGINT  NOT NULL,  -- info 0 .. critical 4
    namespace     TEXT,
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    is_root       BOOLEAN NOT NULL,
    first_seen    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL,
    cleared_at    BIGINT,            -- NULL while open
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
    id           BIGSERIAL PRIMARY KEY,
    cluster      TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    status       TEXT    NOT NULL,  -- queued | running | succeeded | failed
    progress     DOUBLE PRECISION NOT NULL,  -- 0..1
    message      TEXT,
    summary      TEXT,              -- JSON
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX runs_cluster ON runs (cluster, id DESC);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,  -- viewer | operator | admin
    scopes       TEXT    NOT NULL,  -- JSON array of {cluster, namespace}
    secret_hash  TEXT    NOT NULL UNIQUE,  -- hex SHA-256 of the secret
    hint         TEXT    NOT NULL,  -- first characters of the secret, to recognise it
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

-- Append-only, hash-chained (see src/audit.rs for the hash).
CREATE TABLE audit_log (
    seq       BIGINT  PRIMARY KEY,  -- 1, 2, 3, ... with no gaps
    ts        BIGINT  NOT NULL,
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
CREATE FUNCTION kaptain_audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION kaptain_audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION kaptain_audit_log_immutable();

CREATE TABLE settings (
    name       TEXT    PRIMARY KEY,
    secret     BOOLEAN NOT NULL,
    value      TEXT    NOT NULL,  -- plain text, or base64(nonce || ciphertext) when secret
    updated_at BIGINT  NOT NULL
);
