//! The simulated kubelet against the real control plane: the scheduler binds pods to its nodes,
//! the controllers (ReplicaSet, endpoints, job, node lifecycle) react to what it writes.
//! One test per behaviour; every wait polls with a timeout.
//!
//! One test binary (one control plane and kubelet shared by all tests), a module per job.

mod config_refs;
mod crash_loop;
mod image_pull;
mod init_containers;
mod logs;
mod nodes;
mod probes;
mod support;
mod workloads;
