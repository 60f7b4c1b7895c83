//! The REST API on the real control plane with the simulated kubelet (one per test binary),
//! through the Router that `Server::build` makes: diagnose runs (start, follow, cancel),
//! healing decisions (roles, scopes, conflicts, audit), and two replicas sharing one real
//! PostgreSQL database (started by kaptain_testenv).
//!
//! Needs `KAPTAIN_K8S_BIN` (scripts/provision-k8s.sh) and PostgreSQL's binaries
//! (`KAPTAIN_PG_BIN`, scripts/provision-postgres.sh).

mod live;
mod support;
