-- Named leases with an expiry, shared by the server replicas of one store: a lease is held
-- by one replica (holder) until expires_at, renewed by its holder and taken over by another
-- once it has expired. `findings/<cluster>` says which replica records a cluster's findings
-- history (see src/lease.rs). Times are microseconds since the epoch.
-- Keep in step with the other backend's 0004_leases.sql.
CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
