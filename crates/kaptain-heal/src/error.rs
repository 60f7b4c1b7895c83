/// What can go wrong in this crate (everything else here is total).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read or write YAML")]
    Yaml(#[source] serde_yaml_ng::Error),
    #[error("invalid circuit breaker state")]
    BreakerState(#[source] serde_json::Error),
}
