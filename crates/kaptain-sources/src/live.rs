//! Reading a live cluster: kubeconfig contexts, discovery (which kinds are served), then
//! concurrent, paginated LISTs of just the kinds asked for. An API that is not served or is
//! forbidden goes to `skipped`; only an unreachable cluster or rejected credentials are fatal.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http_body_util::BodyExt;
use kaptain_model::Skipped;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Status;
use kube::{Client, Config};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::list::list_kind;
use crate::page::{self, Values};
use crate::snapshot::KEEP_SECRET_KEYS;
use kaptain_index::UNREAD_EVENT_REASONS;
use kaptain_index::{ClusterIndex, SourceInfo};
use kaptain_index::{Kind, Listed, Tables};

/// What to read from a connected cluster.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// `None`: all namespaces. Cluster-scoped kinds are always listed whole.
    pub namespace: Option<String>,
    /// Applied to workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs; never to the
    /// objects they reference by name (ConfigMaps, Secrets, ...), whose absence would lie.
    pub label_selector: Option<String>,
    /// Objects per LIST page; 0 reads each kind in one LIST from the watch cache.
    pub page_size: u32,
    /// Read everything a snapshot writes: every Event and ConfigMap values. A scan leaves out
    /// what no check reads: Events of [`UNREAD_EVENT_REASONS`] and ConfigMap values (keys
    /// stay). Secret values are never kept, except public certificates.
    pub complete: bool,
}

/// A connected cluster.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    pub context: Option<String>,
    /// The namespace of the context (kubectl's default for namespaced commands).
    pub default_namespace: String,
}

/// Progress of a live scan, for a progress bar.
#[derive(Debug, Clone)]
pub enum Progress {
    Discovered { kinds: usize },
    Listed { kind: Kind, count: usize },
    Skipped { kind: Kind, reason: String },
}

/// The context names of a kubeconfig (for `--all-contexts`).
pub fn context_names(kubeconfig: Option<&PathBuf>) -> Result<Vec<String>, Error> {
    let kc = read_kubeconfig(kubeconfig)?;
    Ok(kc.contexts.into_iter().map(|c| c.name).collect())
}

/// Reads a kubeconfig: `path`, or `KUBECONFIG`, or `~/.kube/config`.
pub fn read_kubeconfig(path: Option<&PathBuf>) -> Result<Kubeconfig, Error> {
    match path {
        Some(p) => Kubeconfig::read_from(p)
            .map_err(|e| Error::Kubeconfig(format!("{}: {}", p.display(), flatten(&e)))),
        None => Kubeconfig::read().map_err(|e| Error::Kubeconfig(flatten(&e))),
    }
}

/// Where a cluster is reached from. A kubeconfig is read again at every [`connect`], so
/// refreshed credentials are picked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// A kubeconfig context. `path` `None`: `KUBECONFIG` or `~/.kube/config` (and, when there
    /// is no kubeconfig and no context is named, the pod's service account); `context`
    /// `None`: the kubeconfig's current context.
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    /// The service account of the pod this runs in.
    InCluster,
}

impl ClusterSource {
    /// `--kubeconfig PATH --context NAME`, both optional.
    pub fn kubeconfig(path: Option<PathBuf>, context: Option<String>) -> Self {
        ClusterSource::Kubeconfig { path, context }
    }

    /// `--context NAME` (with `--kubeconfig PATH` if given).
    pub fn context(path: Option<PathBuf>, context: impl Into<String>) -> Self {
        ClusterSource::Kubeconfig {
            path,
            context: Some(context.into()),
        }
    }

    /// What `--kubeconfig`, `--context` (repeatable) and `--all-contexts` select: every context
    /// of the kubeconfig, the named ones, or (neither given) its current context.
    pub fn select(
        path: Option<PathBuf>,
        contexts: &[String],
        all_contexts: bool,
    ) -> Result<Vec<ClusterSource>, Error> {
        if all_contexts {
            ClusterSource::all_contexts(path)
        } else if contexts.is_empty() {
            Ok(vec![ClusterSource::kubeconfig(path, None)])
        } else {
            Ok(contexts
                .iter()
                .map(|c| ClusterSource::context(path.clone(), c))
                .collect())
        }
    }

    /// `--all-contexts`: one source per context of the kubeconfig.
    pub fn all_contexts(path: Option<PathBuf>) -> Result<Vec<ClusterSource>, Error> {
        let names = context_names(path.as_ref())?;
        Ok(names
            .into_iter()
            .map(|c| ClusterSource::context(path.clone(), c))
            .collect())
    }

    /// A name for the cluster: the context's name (the current context when none is given),
    /// or `in-cluster`. Fails when the kubeconfig cannot be read or has no such context:
    /// that is bad input, not an unreachable cluster.
    pub fn resolve_name(&self) -> Result<String, Error> {
        match self {
            ClusterSource::InCluster => Ok("in-cluster".to_string()),
            ClusterSource::Kubeconfig { path, context } => {
                let kc = read_kubeconfig(path.as_ref())?;
                let name = match context {
                    Some(c) => c.clone(),
                    None => kc.current_context.clone().ok_or_else(|| {
                        Error::Kubeconfig("no current context; name one with --context".into())
                    })?,
                };
                check_context(&kc, Some(&name))?;
                Ok(name)
            }
        }
    }

    /// For people: `kubeconfig /path, context prod`, `kubeconfig (default), current
    /// context`, `in-cluster service account`.
    pub fn describe(&self) -> String {
        match self {
            ClusterSource::InCluster => "in-cluster service account".to_string(),
            ClusterSource::Kubeconfig { path, context } => {
                let p = path
                    .as_ref()
                    .map_or_else(|| "(default)".to_string(), |p| p.display().to_string());
                match context {
                    Some(c) => format!("kubeconfig {p}, context {c}"),
                    None => format!("kubeconfig {p}, current context"),
                }
            }
        }
    }
}

/// How long a connection waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// `None` for a client that holds watches (they are guarded by the watcher's own idle
    /// timeout; a read timeout would cut quiet watches).
    pub read: Option<Duration>,
}

impl Timeouts {
    /// One-off requests (scans, healing commands): 5 s to connect, 120 s to read.
    pub const REQUESTS: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        read: Some(Duration::from_secs(120)),
    };
    /// Long-lived watches (the server's hub, the operator): no read timeout.
    pub const WATCHES: Timeouts = Timeouts {
        connect: Duration::from_secs(5),
        read: None,
    };
}

/// The one way Kaptain reaches a cluster: a client for `source`. Every error is one line
/// (a kubeconfig that cannot be read, an unknown context, an unusable service account).
pub async fn connect(source: &ClusterSource, timeouts: Timeouts) -> Result<Cluster, Error> {
    let (mut config, context) = match source {
        ClusterSource::InCluster => (crate::incluster::config()?, None),
        ClusterSource::Kubeconfig { path, context } => {
            let kc = match path {
                Some(p) => Some(read_kubeconfig(Some(p))?),
                None => match Kubeconfig::read() {
                    Ok(kc) => Some(kc),
                    // No kubeconfig: the pod's service account, unless a context was named.
                    Err(kerr) => match crate::incluster::config() {
                        Ok(_) if context.is_none() => None,
                        // In a pod whose service account cannot be used, say why.
                        Err(ierr) if context.is_none() && crate::incluster::in_a_pod() => {
                            return Err(Error::Kubeconfig(format!(
                                "{} (and {ierr})",
                                flatten(&kerr)
                            )));
                        }
                        _ => {
                            return Err(Error::Kubeconfig(format!(
                                "{} (and not running in a cluster)",
                                flatten(&kerr)
                            )));
                        }
                    },
                },
            };
            match kc {
                None => (crate::incluster::config()?, None),
                Some(kc) => {
                    check_context(&kc, context.as_deref())?;
                    let ctx = context.clone().or(kc.current_context.clone());
                    let kc_opts = KubeConfigOptions {
                        context: context.clone(),
                        ..Default::default()
                    };
                    let cfg = Config::from_custom_kubeconfig(kc, &kc_opts)
                        .await
                        .map_err(|e| Error::Kubeconfig(flatten(&e)))?;
                    (cfg, ctx)
                }
            }
        }
    };
    config.connect_timeout = Some(timeouts.connect);
    config.read_timeout = timeouts.read;
    let default_namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| Error::Kubeconfig(flatten(&e)))?;
    Ok(Cluster {
        client,
        context,
        default_namespace,
    })
}

fn check_context(kc: &Kubeconfig, ctx: Option<&str>) -> Result<(), Error> {
    if let Some(c) = ctx
        && !kc.contexts.iter().any(|x| x.name == c)
    {
        return Err(Error::UnknownContext(c.to_string()));
    }
    Ok(())
}

/// Joins an error and its sources into one line (the first line of each).
pub(crate) fn flatten(e: &dyn std::error::Error) -> String {
    let first = |e: &dyn std::error::Error| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let mut s = first(e);
    let mut src = e.source();
    while let Some(x) = src {
        let m = first(x);
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}

impl Cluster {
    fn classify(&self, e: kube::Error) -> Error {
        match &e {
            kube::Error::Api(s) if s.code == 401 => Error::Unauthorized {
                context: self.context.clone(),
            },
            kube::Error::Api(s) if s.code == 403 => Error::Forbidden {
                context: self.context.clone(),
                message: s.message.clone(),
            },
            _ => Error::Unreachable {
                context: self.context.clone(),
                message: flatten(&e),
            },
        }
    }

    /// The server's version, e.g. `v1.20.2`.
    pub async fn server_version(&self) -> Result<String, Error> {
        self.client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .map_err(|e| self.classify(e))
    }

    /// Which of `kinds` the server serves, at the version Kaptain reads.
    pub async fn served(&self, kinds: &[Kind]) -> Result<(Vec<Kind>, Vec<Skipped>), Error> {
        let mut gvs: Vec<String> = kinds.iter().map(|k| k.api_version()).collect();
        gvs.sort();
        gvs.dedup();
        let client = &self.client;
        let answers = futures::future::join_all(gvs.iter().map(|gv| async move {
            let res = if gv == "v1" {
                client.list_core_api_resources("v1").await
            } else {
                client.list_api_group_resources(gv).await
            };
            (gv.clone(), res)
        }))
        .await;
        let mut served_plural: HashSet<(String, String)> = HashSet::new();
        let mut gv_errors: Vec<(String, String)> = Vec::new();
        for (gv, res) in answers {
            match res {
                Ok(list) => {
                    for r in list.resources {
                        if r.verbs.iter().any(|v| v == "list") {
                            served_plural.insert((gv.clone(), r.name));
                        }
                    }
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    gv_errors.push((gv, "not served".to_string()))
                }
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    gv_errors.push((gv, "forbidden".to_string()))
                }
                Err(e) if gv == "v1" => return Err(self.classify(e)),
                Err(e) => gv_errors.push((gv, flatten(&e))),
            }
        }
        let mut ok = Vec::new();
        let mut skipped = Vec::new();
        for &k in kinds {
            let gv = k.api_version();
            if served_plural.contains(&(gv.clone(), k.plural().to_string())) {
                ok.push(k);
            } else {
                let reason = gv_errors
                    .iter()
                    .find(|(g, _)| *g == gv)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| "not served".to_string());
                skipped.push(Skipped {
                    api: k.api_label(),
                    reason,
                });
            }
        }
        Ok((ok, skipped))
    }

    /// Lists the given kinds concurrently and builds the index.
    pub async fn load(
        &self,
        kinds: &[Kind],
        opts: &LiveOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<(ClusterIndex, SourceInfo), Error> {
        let server_version = self.server_version().await?;
        let (served, mut skipped) = self.served(kinds).await?;
        progress(Progress::Discovered {
            kinds: served.len(),
        });
        for s in &skipped {
            if let Some(k) = kinds.iter().find(|k| k.api_label() == s.api) {
                progress(Progress::Skipped {
                    kind: *k,
                    reason: s.reason.clone(),
                });
            }
        }
        let page = opts.page_size;
        let results: Vec<(Kind, Result<Listed, kube::Error>)> =
            futures::stream::iter(served.iter().copied())
                .map(|k| async move {
                    // Page size 0: one unpaginated LIST per kind served from the API
                    // server's watch cache (resourceVersion=0, as informers start):
                    // fastest, possibly a moment old.
                    let mut lp = if page == 0 {
                        ListParams::default().match_any()
                    } else {
                        ListParams::default().limit(page)
                    };
                    if let Some(sel) = opts
                        .label_selector
                        .as_deref()
                        .filter(|_| selector_applies(k))
                    {
                        lp = lp.labels(sel);
                    }
                    if k == Kind::Event && !opts.complete {
                        // Four Normal events per pod start that no check reads: the server
                        // leaves them out (most of the Events of a big, healthy cluster).
                        lp = lp.fields(&unread_events_excluded());
                    }
                    let ns = if k.namespaced() {
                        opts.namespace.as_deref()
                    } else {
                        None
                    };
                    let values = match k {
                        Kind::Secret => Values::Only(KEEP_SECRET_KEYS),
                        Kind::ConfigMap if !opts.complete => Values::Only(&[]),
                        _ => Values::All,
                    };
                    let r = list_kind(&self.client, k, ns, &lp, values).await;
                    if let Ok(v) = &r {
                        progress(Progress::Listed {
                            kind: k,
                            count: v.len(),
                        });
                    }
                    (k, r)
                })
                .buffer_unordered(8)
                .collect()
                .await;
        let mut objects = Tables::default();
        let mut loaded = Vec::new();
        for (k, r) in results {
            match r {
                Ok(v) => {
                    loaded.push(k);
                    objects.put(v);
                }
                Err(kube::Error::Api(s)) if s.code == 401 => {
                    return Err(Error::Unauthorized {
                        context: self.context.clone(),
                    });
                }
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    progress(Progress::Skipped {
                        kind: k,
                        reason: "forbidden".into(),
                    });
                    skipped.push(Skipped {
                        api: k.api_label(),
                        reason: format!("forbidden: {}", s.message),
                    })
                }
                Err(kube::Error::Api(s)) if s.code == 404 => skipped.push(Skipped {
                    api: k.api_label(),
                    reason: "not served".into(),
                }),
                Err(e) => {
                    progress(Progress::Skipped {
                        kind: k,
                        reason: flatten(&e),
                    });
                    skipped.push(Skipped {
                        api: k.api_label(),
                        reason: flatten(&e),
                    })
                }
            }
        }
        skipped.sort_by(|a, b| a.api.cmp(&b.api));
        if loaded.is_empty() && !served.is_empty() {
            // Nothing could be read at all: that is not a scan, it is an error.
            let why = skipped
                .iter()
                .find(|s| s.reason.starts_with("forbidden"))
                .map(|s| s.reason.clone());
            return Err(match why {
                Some(reason) => Error::Forbidden {
                    context: self.context.clone(),
                    message: format!(
                        "cannot list any of the {} kinds needed ({reason})",
                        served.len()
                    ),
                },
                None => Error::Unreachable {
                    context: self.context.clone(),
                    message: skipped
                        .first()
                        .map(|s| s.reason.clone())
                        .unwrap_or_default(),
                },
            });
        }
        let idx = ClusterIndex::from_tables(objects, &loaded);
        Ok((
            idx,
            SourceInfo {
                context: self.context.clone(),
                server_version: Some(server_version),
                skipped,
                captured_at: None,
            },
        ))
    }
}

/// The field selector that leaves out Events of [`UNREAD_EVENT_REASONS`].
fn unread_events_excluded() -> String {
    UNREAD_EVENT_REASONS
        .iter()
        .map(|r| format!("reason!={r}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Kinds a label selector filters. Objects referenced by name are always listed whole.
pub fn selector_applies(k: Kind) -> bool {
    matches!(
        k,
        Kind::Pod
            | Kind::Deployment
            | Kind::ReplicaSet
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::Job
            | Kind::CronJob
            | Kind::Service
            | Kind::Ingress
            | Kind::PersistentVolumeClaim
            | Kind::HorizontalPodAutoscaler
            | Kind::PodDisruptionBudget
    )
}

/// Lists every object of `K`, following `continue` tokens.
///
/// Each page arrives as bytes and is parsed on a blocking thread ([`crate::page`]: what no
/// check reads is skipped inside the parser). The next page is requested as soon as its
/// `continue` token is read from the head of the current one, so the network and the parser
/// overlap; the token is checked against the full parse.
pub(crate) async fn list_all<K>(
    client: &Client,
    namespace: Option<&str>,
    lp: &ListParams,
    values: Values,
) -> Result<Vec<Arc<K>>, kube::Error>
where
    K: kube::Resource<DynamicType = ()> + DeserializeOwned + Send + Sync + 'static,
{
    let request = kube::core::Request::new(K::url_path(&(), namespace));
    let mut lp = lp.clone();
    let mut out: Vec<Arc<K>> = Vec::new();
    let mut parsing: Option<(JoinHandle<ParsedPage<K>>, Option<String>)> = None;
    loop {
        let req = request.list(&lp).map_err(kube::Error::BuildRequest)?;
        let body = fetch(client, req).await?;
        if let Some((prev, token)) = parsing.take() {
            take_page(prev, token.as_deref(), &mut out).await?;
        }
        let early = page::continue_token(&body);
        let parse = tokio::task::spawn_blocking(move || page::parse::<K>(&body, values));
        match early {
            Some(Some(token)) => {
                lp.continue_token = Some(token.clone());
                parsing = Some((parse, Some(token)));
            }
            Some(None) => {
                take_page(parse, None, &mut out).await?;
                return Ok(out);
            }
            None => {
                let page = joined(parse).await?;
                reserve(&mut out, &page);
                out.extend(page.items);
                match page.continue_ {
                    Some(c) => lp.continue_token = Some(c),
                    None => return Ok(out),
                }
            }
        }
    }
}

/// Sends a GET and reads the body into one buffer (`Client::request_text` holds a page up to
/// three times while copying it into a `String`). 4xx/5xx answers become `Error::Api`, as
/// kube makes them.
async fn fetch(client: &Client, req: http::Request<Vec<u8>>) -> Result<Vec<u8>, kube::Error> {
    let res = client.send(req.map(kube::client::Body::from)).await?;
    let status = res.status();
    let size = res
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = res.into_body();
    let mut buf = Vec::with_capacity(size.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
        }
    }
    if status.is_client_error() || status.is_server_error() {
        let st = serde_json::from_slice::<Status>(&buf).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&buf);
            Status::failure(text.trim(), "Failed to parse error data").with_code(status.as_u16())
        });
        return Err(kube::Error::Api(st.boxed()));
    }
    Ok(buf)
}

type ParsedPage<K> = Result<page::Page<K>, serde_json::Error>;

async fn joined<K>(h: JoinHandle<ParsedPage<K>>) -> Result<page::Page<K>, kube::Error> {
    match h.await {
        Ok(r) => r.map_err(kube::Error::SerdeError),
        Err(e) => Err(kube::Error::Service(Box::new(e))),
    }
}

/// Waits for a page parsed in the background; its `continue` must be the one read early.
async fn take_page<K>(
    h: JoinHandle<ParsedPage<K>>,
    early: Option<&str>,
    out: &mut Vec<Arc<K>>,
) -> Result<(), kube::Error> {
    let page = joined(h).await?;
    if page.continue_.as_deref() != early {
        return Err(kube::Error::Service(
            "the continue token of a LIST page changed between a quick read and the full parse"
                .into(),
        ));
    }
    reserve(out, &page);
    out.extend(page.items);
    Ok(())
}

/// Sizes the result once, from the first page's count of what follows.
fn reserve<K>(out: &mut Vec<Arc<K>>, page: &page::Page<K>) {
    if out.is_empty() {
        out.reserve_exact(page.items.len() + page.remaining);
    }
}
