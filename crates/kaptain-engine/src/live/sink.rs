//! Where new reports go besides the hub's memory (the server connects the store's findings
//! history here).

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use kaptain_model::Report;

use super::status::ReportChange;

/// An error a sink reports; the hub logs it and carries on.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receives every new report generation of every cluster, in order per cluster (the next
/// analysis of that cluster waits for the call to finish; other clusters do not); and, while
/// nothing changes, the same generation again with an empty [`ReportChange`] every
/// [`super::LiveConfig::sink_interval`] (the findings are still there).
pub trait ReportSink: Send + Sync + 'static {
    fn report<'a>(
        &'a self,
        cluster: &'a str,
        generation: u64,
        report: &'a Arc<Report>,
        change: &'a ReportChange,
    ) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// A sink from an async closure:
/// `sink_fn(|cluster, generation, report, change| async move { ...; Ok(()) })`.
pub fn sink_fn<F, Fut>(f: F) -> Arc<dyn ReportSink>
where
    F: Fn(String, u64, Arc<Report>, ReportChange) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), SinkError>> + Send + 'static,
{
    Arc::new(FnSink(f))
}

struct FnSink<F>(F);

impl<F, Fut> ReportSink for FnSink<F>
where
    F: Fn(String, u64, Arc<Report>, ReportChange) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), SinkError>> + Send + 'static,
{
    fn report<'a>(
        &'a self,
        cluster: &'a str,
        generation: u64,
        report: &'a Arc<Report>,
        change: &'a ReportChange,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin((self.0)(
            cluster.to_string(),
            generation,
            report.clone(),
            change.clone(),
        ))
    }
}
