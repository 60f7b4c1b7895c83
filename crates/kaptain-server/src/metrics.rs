//! The server's own Prometheus metrics (OpenMetrics text on `/metrics`): requests by route,
//! method and status, latency histograms by route, and per-cluster gauges: whether this
//! replica records the cluster's findings history, whether the cluster is reachable, when it
//! was last analyzed, and its open findings by severity and check (what people alert on; set
//! from the live clusters at each scrape).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/v1/findings/{id}`), never the concrete path, so the label
    /// set stays bounded; `unmatched` for 404s outside every route.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    cluster: String,
    severity: String,
    check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LlmLabels {
    provider: String,
    model: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// Every metric the server exports.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    findings_recorder: Family<ClusterLabels, Gauge>,
    reachable: Family<ClusterLabels, Gauge>,
    analyzed: Family<ClusterLabels, Gauge>,
    open_findings: Family<FindingLabels, Gauge>,
    llm_calls: Family<LlmLabels, Counter>,
    llm_input_tokens: Family<LlmLabels, Counter>,
    llm_output_tokens: Family<LlmLabels, Counter>,
    llm_errors: Family<LlmLabels, Counter>,
    registry: Arc<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("kaptain_server");
        let requests = Family::<RequestLabels, Counter>::default();
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until the response head), by method and route template",
            latency.clone(),
        );
        let findings_recorder = Family::<ClusterLabels, Gauge>::default();
        r.register(
            "findings_recorder",
            "1 while this replica records the cluster's findings history (it holds the cluster's claim in the store), 0 while another replica does",
            findings_recorder.clone(),
        );
        let reachable = Family::<ClusterLabels, Gauge>::default();
        r.register(
            "cluster_reachable",
            "1 while the cluster answers (its watches are live), 0 while connecting or unreachable",
            reachable.clone(),
        );
        let analyzed = Family::<ClusterLabels, Gauge>::default();
        r.register(
            "cluster_last_analysis_timestamp_seconds",
            "When the cluster's data was last analyzed successfully (Unix seconds)",
            analyzed.clone(),
        );
        let open_findings = Family::<FindingLabels, Gauge>::default();
        r.register(
            "open_findings",
            "Findings of the cluster's latest report, by severity and check",
            open_findings.clone(),
        );
        let llm_calls = Family::<LlmLabels, Counter>::default();
        r.register(
            "llm_calls",
            "Calls to an LLM (the investigator, explanations), by provider and model",
            llm_calls.clone(),
        );
        let llm_input_tokens = Family::<LlmLabels, Counter>::default();
        r.register(
            "llm_input_tokens",
            "Input (prompt) tokens sent to an LLM, as the provider counted them",
            llm_input_tokens.clone(),
        );
        let llm_output_tokens = Family::<LlmLabels, Counter>::default();
        r.register(
            "llm_output_tokens",
            "Output (completion) tokens an LLM returned, as the provider counted them",
            llm_output_tokens.clone(),
        );
        let llm_errors = Family::<LlmLabels, Counter>::default();
        r.register(
            "llm_errors",
            "LLM calls that failed (unreachable, an error status, an unreadable answer)",
            llm_errors.clone(),
        );
        Metrics {
            requests,
            latency,
            findings_recorder,
            reachable,
            analyzed,
            open_findings,
            llm_calls,
            llm_input_tokens,
            llm_output_tokens,
            llm_errors,
            registry: Arc::new(r),
        }
    }

    /// Counts one LLM call: the call, its tokens, and whether it failed.
    pub fn record_llm_call(&self, c: &kaptain_llm::CallRecord) {
        let l = LlmLabels {
            provider: c.provider.clone(),
            model: c.model.clone(),
        };
        self.llm_calls.get_or_create(&l).inc();
        self.llm_input_tokens
            .get_or_create(&l)
            .inc_by(c.input_tokens);
        self.llm_output_tokens
            .get_or_create(&l)
            .inc_by(c.output_tokens);
        if c.error.is_some() {
            self.llm_errors.get_or_create(&l).inc();
        }
    }

    /// Sets whether this replica records `cluster`'s findings history.
    pub fn set_findings_recorder(&self, cluster: &str, recording: bool) {
        self.findings_recorder
            .get_or_create(&ClusterLabels {
                cluster: cluster.to_owned(),
            })
            .set(i64::from(recording));
    }

    /// Sets the per-cluster gauges from the live clusters: reachability, the last analysis,
    /// open findings by severity and check (a check that no longer fires drops out).
    pub fn observe_clusters(&self, hub: &kaptain_engine::live::LiveClusters) {
        self.open_findings.clear();
        self.reachable.clear();
        self.analyzed.clear();
        for info in hub.clusters() {
            let cluster = ClusterLabels {
                cluster: info.name.clone(),
            };
            let ready = matches!(
                info.status,
                kaptain_engine::live::ClusterStatus::Ready { .. }
            );
            self.reachable.get_or_create(&cluster).set(i64::from(ready));
            if let Some(t) = hub.cluster(&info.name).and_then(|v| v.data_as_of) {
                self.analyzed.get_or_create(&cluster).set(t.as_second());
            }
            let Some(report) = hub.report(&info.name) else {
                continue;
            };
            let mut counts: std::collections::HashMap<FindingLabels, i64> =
                std::collections::HashMap::new();
            for f in &report.findings {
                *counts
                    .entry(FindingLabels {
                        cluster: info.name.clone(),
                        severity: f.severity.to_string(),
                        check: f.id.clone(),
                    })
                    .or_default() += 1;
            }
            for (labels, n) in counts {
                self.open_findings.get_or_create(&labels).set(n);
            }
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!("encoding metrics: {e}");
        }
        text
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`.
pub async fn serve(State(state): State<crate::api::AppState>) -> Response {
    state.metrics.observe_clusters(&state.hub);
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
