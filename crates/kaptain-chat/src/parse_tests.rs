//! The parser's tests: a few behaviours spelled out, then a table of questions as SREs ask them
//! (phrasings seen in k8sgpt, HolmesGPT and kubectl-ai examples and on-call chat) with the
//! reading each must get.

use kaptain_model::{Category, Severity};

use super::*;

fn read(q: &str) -> Request {
    parse(q, &Known::default()).unwrap_or_else(|e| panic!("{q}: {e}"))
}

#[test]
fn what_is_wrong_reads_as_diagnose_with_a_namespace() {
    for q in [
        "what's wrong in namespace shop?",
        "What is wrong in the shop namespace",
        "diagnose -n shop",
        "is anything broken in shop?",
        "health of ns shop",
    ] {
        let r = read(q);
        assert_eq!(r.intent, Intent::Diagnose, "{q}: {r:?}");
        assert_eq!(r.namespace.as_deref(), Some("shop"), "{q}: {r:?}");
        assert_eq!(r.name, None, "{q}: {r:?}");
        assert!(r.ignored.is_empty(), "{q}: {r:?}");
    }
    let r = read("what is wrong?");
    assert_eq!((r.intent, r.namespace), (Intent::Diagnose, None));
}

#[test]
fn a_named_object_reads_as_why() {
    let r = read("Why is the checkout deployment failing in shop?");
    assert_eq!(r.intent, Intent::Why);
    assert_eq!(r.kind.as_deref(), Some("Deployment"));
    assert_eq!(r.name.as_deref(), Some("checkout"));
    assert_eq!(r.namespace.as_deref(), Some("shop"));

    let r = read("why is svc/api down");
    assert_eq!(
        (r.intent, r.kind.as_deref(), r.name.as_deref()),
        (Intent::Why, Some("Service"), Some("api"))
    );
    // A bare name is the object asked about.
    let r = read("why is checkout down?");
    assert_eq!(
        (r.intent, r.kind, r.name.as_deref()),
        (Intent::Why, None, Some("checkout"))
    );
    let r = read("what's wrong with ledger's pods");
    assert_eq!(r.name.as_deref(), Some("ledger"));
    assert_eq!(r.intent, Intent::Why);
}

#[test]
fn filters_read_as_a_findings_list() {
    let r = read("show critical findings in payments");
    assert_eq!(r.intent, Intent::Findings);
    assert_eq!(r.min_severity, Some(Severity::Critical));
    assert_eq!(r.namespace.as_deref(), Some("payments"));

    let r = read("which pods are crash looping?");
    assert_eq!(r.intent, Intent::Findings);
    assert_eq!(r.kind.as_deref(), Some("Pod"));
    assert_eq!(r.check.as_deref(), Some("pod.crash-loop"));

    let r = read("any network issues on cluster prod");
    assert_eq!(r.intent, Intent::Findings);
    assert_eq!(r.category, Some(Category::Network));
    assert_eq!(r.cluster.as_deref(), Some("prod"));
    assert_eq!(r.namespace, None);

    let r = read("OOMKilled pods");
    assert_eq!(r.check.as_deref(), Some("pod.oom-killed"));
    assert_eq!(r.intent, Intent::Findings);
}

#[test]
fn fix_and_explain_and_help() {
    let r = read("how do I fix the checkout service?");
    assert_eq!(r.intent, Intent::Fix);
    assert_eq!(
        (r.kind.as_deref(), r.name.as_deref()),
        (Some("Service"), Some("checkout"))
    );
    assert_eq!(read("fix everything in shop").intent, Intent::Fix);

    let r = read("what does pod.crash-loop mean?");
    assert_eq!(
        (r.intent, r.check.as_deref()),
        (Intent::Explain, Some("pod.crash-loop"))
    );
    let r = read("explain out of memory");
    assert_eq!(
        (r.intent, r.check.as_deref()),
        (Intent::Explain, Some("pod.oom-killed"))
    );
    let r = read("what is pod.image-pull");
    assert_eq!(r.intent, Intent::Explain);
    // A problem named in everyday words after "what" is a question about the cluster.
    let r = read("what certificates expire soon?");
    assert_eq!(
        (r.intent, r.check.as_deref()),
        (Intent::Findings, Some("certificate.expiring"))
    );
    assert!(r.ignored.is_empty(), "{r:?}");
    // Generic words are not taken for an object's name.
    for q in ["what should I fix first?", "why is my app down?"] {
        assert_eq!(read(q).name, None, "{q}");
    }

    assert_eq!(read("help").intent, Intent::Help);
    let r = read("make me a sandwich");
    assert_eq!(r.intent, Intent::Help, "{r:?}");
    assert_eq!(r.ignored, ["make", "sandwich"]);
}

#[test]
fn known_clusters_win_over_namespaces() {
    let clusters = vec!["prod".to_string(), "staging".to_string()];
    let known = Known {
        clusters: &clusters,
    };
    let r = parse("what is wrong in prod", &known).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.cluster.as_deref(), r.namespace), (Some("prod"), None));
    let r = parse("what is wrong in shop on staging", &known).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.cluster.as_deref(), Some("staging"));
    assert_eq!(r.namespace.as_deref(), Some("shop"));
}

#[test]
fn an_empty_question_is_an_error() {
    assert!(parse("  ?! ", &Known::default()).is_err());
    assert!(parse("", &Known::default()).is_err());
}

/// The clusters every table question is read with: "in prod" names the cluster.
const CLUSTERS: &[&str] = &["prod", "staging"];

/// Questions and their readings: the intent, then every filter that must be set (`ns=`,
/// `cluster=`, `kind=`, `name=`, `sev=`, `cat=`, `check=`, `ignored=a,b`). A filter not listed
/// must be absent, and `ignored` empty.
#[rustfmt::skip]
const TABLE: &[(&str, &str)] = &[
    // Namespaces, however they are written.
    ("what's wrong in the shop namespace?", "diagnose ns=shop"),
    ("whats wrong -n shop", "diagnose ns=shop"),
    ("What is wrong ns=shop", "diagnose ns=shop"),
    ("anything broken in namespace: shop?", "diagnose ns=shop"),
    ("diagnose --namespace=payments", "diagnose ns=payments"),
    ("any problems in shop's namespace?", "diagnose ns=shop"),
    ("are there any issues in the payments namespace?", "diagnose ns=payments"),
    ("what's wrong across all namespaces -A", "diagnose"),
    ("problems in ns/shop", "diagnose ns=shop"),
    ("is anything failing 24/7 in tcp/8080", "diagnose ignored=24/7,tcp/8080"),
    // Objects: kubectl's kind/name, short names, kinds in words, possessives.
    ("why is svc/api down in shop", "why ns=shop kind=Service name=api"),
    ("why is deployment.apps/checkout failing -n shop", "why ns=shop kind=Deployment name=checkout"),
    ("what's wrong with deployment shop/checkout", "why ns=shop kind=Deployment name=checkout"),
    ("what is wrong with the payment-service pod in the production namespace?", "why ns=production kind=Pod name=payment-service"),
    ("describe pod checkout-7d9c-x2 in shop", "why ns=shop kind=Pod name=checkout-7d9c-x2"),
    ("what's up with po/ledger-abc12 -n payments", "why ns=payments kind=Pod name=ledger-abc12"),
    ("why are the ledger pods restarting?", "why kind=Pod name=ledger"),
    ("is the api service ok in shop", "why ns=shop kind=Service name=api"),
    ("why is my stateful set postgres unavailable", "why kind=StatefulSet name=postgres"),
    ("what's wrong with ledger's deployment in payments", "why ns=payments kind=Deployment name=ledger"),
    ("What is the issue with Deployment nginx?", "why kind=Deployment name=nginx"),
    ("troubleshoot checkout in shop", "why ns=shop name=checkout"),
    ("why is node worker-1 not ready?", "why kind=Node name=worker-1"),
    ("why is my deployment failing?", "diagnose kind=Deployment"),
    ("what pods are unhealthy?", "findings kind=Pod"),
    ("show me all pods in the default namespace", "findings ns=default kind=Pod"),
    ("Pods In Namespace Shop", "findings ns=shop kind=Pod"),
    // Problems in everyday words → check ids.
    ("which pods are in CrashLoopBackOff?", "findings kind=Pod check=pod.crash-loop"),
    ("show crashlooping pods in payments", "findings ns=payments kind=Pod check=pod.crash-loop"),
    ("why does checkout keep crashing?", "why name=checkout"),
    ("why is my nginx pod in CrashLoopBackOff?", "why kind=Pod name=nginx"),
    ("pods getting OOM killed", "findings kind=Pod check=pod.oom-killed"),
    ("any out-of-memory kills in payments?", "findings ns=payments check=pod.oom-killed"),
    ("ImagePullBackOff in shop", "findings ns=shop check=pod.image-pull"),
    ("ErrImagePull", "findings check=pod.image-pull"),
    ("why can't checkout pull its image?", "why name=checkout"),
    ("which pods are pending?", "findings kind=Pod check=pod.unschedulable"),
    ("why are pods unschedulable in shop", "diagnose ns=shop kind=Pod check=pod.unschedulable"),
    ("evicted pods", "findings kind=Pod check=pod.evicted"),
    ("pods stuck in Terminating", "findings kind=Pod check=pod.stuck-terminating"),
    ("pods stuck in ContainerCreating", "findings kind=Pod check=pod.container-creating"),
    ("Init:CrashLoopBackOff in shop", "findings ns=shop check=pod.init-container-failed"),
    ("failing readiness probes", "findings check=pod.readiness-probe-failing"),
    ("services with no endpoints", "findings kind=Service check=service.no-ready-endpoints"),
    ("which services have no ready endpoints in shop", "findings ns=shop kind=Service check=service.no-ready-endpoints"),
    ("why does svc/api have no endpoints", "why kind=Service name=api"),
    ("why is my load balancer pending?", "diagnose kind=Service check=service.lb-pending"),
    ("expired certificates", "findings cat=certificate check=certificate.expired"),
    ("which certs expire soon?", "findings cat=certificate check=certificate.expiring"),
    ("tls certs expiring in the next 30 days", "findings cat=certificate check=certificate.expiring ignored=30"),
    ("missing configmaps in shop", "findings ns=shop check=config.missing-configmap"),
    ("pods with missing secrets", "findings check=config.missing-secret"),
    ("which config maps are missing?", "findings kind=ConfigMap check=config.missing-configmap"),
    ("pending PVCs", "findings kind=PersistentVolumeClaim check=pvc.pending"),
    ("why is my persistent volume claim pending", "diagnose kind=PersistentVolumeClaim check=pvc.pending"),
    ("nodes not ready", "findings kind=Node check=node.not-ready"),
    ("which nodes are NotReady on prod?", "findings cluster=prod kind=Node check=node.not-ready"),
    ("nodes under disk pressure", "findings kind=Node check=node.pressure"),
    ("failed jobs", "findings kind=Job check=job.failed"),
    ("why are my cron jobs failing", "diagnose kind=CronJob check=cronjob.failing"),
    ("unavailable deployments in shop", "findings ns=shop kind=Deployment check=deployment.unavailable"),
    ("which deployments are crash looping?", "findings check=pod.crash-loop"),
    ("why is the checkout rollout stuck", "why name=checkout"),
    ("hpas at max replicas", "findings kind=HorizontalPodAutoscaler check=hpa.at-max"),
    // A check id written out narrows even a question about one object.
    ("why does checkout fire pod.create-container-config-error", "why name=checkout check=pod.create-container-config-error"),
    ("show crash looping pods of checkout", "findings kind=Pod name=checkout check=pod.crash-loop"),
    // DNS has no check: said back, the rest still read.
    ("DNS problems in kube-system", "diagnose ns=kube-system ignored=dns"),
    // Severities and categories.
    ("high severity issues", "findings sev=high"),
    ("anything critical or high in shop?", "findings ns=shop sev=high"),
    ("medium and above", "findings sev=medium"),
    ("severity>=high", "findings sev=high"),
    ("severity:critical kind:pod category:reliability", "findings kind=Pod sev=critical cat=reliability"),
    ("security issues in shop", "findings ns=shop cat=security"),
    ("storage problems on staging", "findings cluster=staging cat=storage"),
    ("networking issues", "findings cat=network"),
    ("critical network issues in payments", "findings ns=payments sev=critical cat=network"),
    // Fix, explain, why.
    ("how do I fix the crash looping pods in payments?", "fix ns=payments kind=Pod check=pod.crash-loop"),
    ("how to fix ImagePullBackOff", "fix check=pod.image-pull"),
    ("how to fix svc/api", "fix kind=Service name=api"),
    ("what should I do about checkout in shop?", "fix ns=shop name=checkout"),
    ("explain pod.crash-loop", "explain check=pod.crash-loop"),
    ("what does CrashLoopBackOff mean?", "explain check=pod.crash-loop"),
    ("what is OOMKilled?", "explain check=pod.oom-killed"),
    ("what's crashing?", "findings check=pod.crash-loop"),
    ("why?", "diagnose"),
    // Clusters.
    ("what's wrong on cluster prod", "diagnose cluster=prod"),
    ("what is wrong in prod?", "diagnose cluster=prod"),
    ("crash looping pods in shop on staging", "findings cluster=staging ns=shop kind=Pod check=pod.crash-loop"),
    ("problems --context=prod", "diagnose cluster=prod"),
    ("anything broken in the prod cluster?", "diagnose cluster=prod"),
    ("what is wrong in dev", "diagnose ns=dev"),
    // Everyday talk around the words that matter.
    ("list all pods", "findings kind=Pod"),
    ("show all findings", "findings"),
    ("kubectl get pods -n shop", "findings ns=shop kind=Pod"),
    ("what happened to checkout yesterday", "why name=checkout"),
    ("is checkout running?", "why name=checkout"),
    ("how's the cluster doing", "diagnose"),
    ("what is the root cause of the checkout outage", "why name=checkout"),
    ("why is coredns crashing", "why name=coredns"),
    ("why did the checkout job fail", "why kind=Job name=checkout"),
    ("the service account checkout-sa is missing", "why kind=ServiceAccount name=checkout-sa"),
    ("503 on ingress shop-web", "why kind=Ingress name=shop-web"),
    ("why is my pod stuck in pending state", "diagnose kind=Pod check=pod.unschedulable"),
    ("pvc stuck pending in data", "findings ns=data kind=PersistentVolumeClaim check=pvc.pending"),
    ("which secrets are missing in payments", "findings ns=payments kind=Secret check=config.missing-secret"),
    ("pods with high restarts", "findings kind=Pod check=pod.restarts"),
    ("critical crash loops", "findings sev=critical check=pod.crash-loop"),
    ("volume mount errors", "findings check=pod.container-creating"),
    ("quota exceeded in shop", "findings ns=shop check=replicaset.failed-create"),
    ("what's the cpu usage", "help ignored=cpu"),
    ("give me a summary of prod", "diagnose cluster=prod"),
    ("what's broken in staging and prod", "diagnose cluster=staging ignored=prod"),
    ("what's causing high latency in the checkout namespace?", "diagnose ns=checkout ignored=latency"),
    ("which ingresses point to missing services", "findings kind=Ingress check=ingress.missing-service"),
    ("k8sgpt analyze --filter=Pod", "findings kind=Pod"),
    ("is my TLS secret valid", "findings kind=Secret cat=certificate"),
    ("daemonset not scheduled on all nodes", "findings kind=DaemonSet check=daemonset.unavailable"),
    ("hpa can't scale", "findings kind=HorizontalPodAutoscaler check=hpa.unable-to-scale"),
    ("pdb blocking drain", "findings kind=PodDisruptionBudget check=pdb.zero-disruptions"),
    ("find crashing pods", "findings kind=Pod check=pod.crash-loop"),
    ("ledger keeps getting OOMKilled, how do I fix it?", "fix name=ledger"),
    ("checkout is down, why?", "why name=checkout"),
    ("what's wrong in shop and payments?", "diagnose ns=shop ignored=payments"),
    ("why are checkout and ledger down?", "why name=checkout ignored=ledger"),
    ("pods in Completed state in shop", "findings ns=shop kind=Pod"),
    ("what’s wrong –n shop", "diagnose ns=shop"),
    ("diagnose —namespace payments", "diagnose ns=payments"),
    ("show top 5 issues", "findings ignored=5"),
    ("Why is payments-api returning 503s?", "why name=payments-api"),
    ("no healthy upstream", "findings check=service.no-ready-endpoints"),
    ("why can't I reach checkout", "why name=checkout"),
    ("when does the shop-tls cert expire", "why name=shop-tls cat=certificate"),
    ("why is the frontend deployment not rolling out", "why kind=Deployment name=frontend"),
    ("anything I should worry about?", "diagnose"),
    ("which pods have no resource limits", "findings kind=Pod ignored=resource,limits"),
    // Help, and nonsense said back.
    ("help", "help"),
    ("hello", "help"),
    ("hey kaptain", "help"),
    ("what can you do?", "help"),
    ("make me a sandwich", "help ignored=make,sandwich"),
    ("tell me a joke", "help ignored=joke"),
    ("asdf qwer", "help ignored=asdf,qwer"),
];

/// `expect` ("why ns=shop kind=Pod") as a request.
fn expected(expect: &str) -> Request {
    let mut words = expect.split_whitespace();
    let intent = match words.next() {
        Some("diagnose") => Intent::Diagnose,
        Some("why") => Intent::Why,
        Some("fix") => Intent::Fix,
        Some("findings") => Intent::Findings,
        Some("explain") => Intent::Explain,
        Some("help") => Intent::Help,
        other => panic!("{expect}: no intent {other:?}"),
    };
    let mut r = Request::new(intent);
    for w in words {
        let (k, v) = w
            .split_once('=')
            .unwrap_or_else(|| panic!("{expect}: {w} is not key=value"));
        let v = v.to_string();
        match k {
            "ns" => r.namespace = Some(v),
            "cluster" => r.cluster = Some(v),
            "kind" => r.kind = Some(v),
            "name" => r.name = Some(v),
            "check" => r.check = Some(v),
            "sev" => r.min_severity = Some(v.parse().unwrap_or_else(|e| panic!("{w}: {e}"))),
            "cat" => r.category = Some(v.parse().unwrap_or_else(|e| panic!("{w}: {e}"))),
            "ignored" => r.ignored = v.split(',').map(String::from).collect(),
            _ => panic!("{expect}: unknown key {k}"),
        }
    }
    r
}

#[test]
fn questions_as_people_ask_them_read_right() {
    let clusters: Vec<String> = CLUSTERS.iter().map(|c| c.to_string()).collect();
    let known = Known {
        clusters: &clusters,
    };
    let wrong: Vec<String> = TABLE
        .iter()
        .filter_map(|(q, expect)| {
            let got = parse(q, &known).unwrap_or_else(|e| panic!("{q}: {e}"));
            let want = expected(expect);
            (got != want).then(|| {
                format!(
                    "{q:?}\n    want {} {:?}\n    got  {} {:?}",
                    want.describe(),
                    want.ignored,
                    got.describe(),
                    got.ignored
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} questions read wrong:\n{}",
        wrong.len(),
        TABLE.len(),
        wrong.join("\n")
    );
    assert!(TABLE.len() >= 50);
}
