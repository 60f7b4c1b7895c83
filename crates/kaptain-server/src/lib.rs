//! Kaptain's server (`kaptain serve`).
//!
//! - [`hub`]: watches any number of clusters, each independently, and keeps per cluster a
//!   live [`kaptain_cluster::ClusterIndex`], the latest analysis and the summaries the REST
//!   API and the console read.

pub mod hub;
