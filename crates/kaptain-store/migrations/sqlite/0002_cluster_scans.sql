-- The latest scan of each cluster. An open finding was, by definition, reported by its
-- cluster's latest scan, so its last_seen is read from here instead of being rewritten in
-- every row at every scan (a rescan that changes nothing writes one row, not thousands).
-- findings.last_seen stays authoritative for cleared occurrences.
CREATE TABLE cluster_scans (
    cluster      TEXT    PRIMARY KEY,
    last_scan_at INTEGER NOT NULL,
    open_count   INTEGER NOT NULL
);
