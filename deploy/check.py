#!/usr/bin/env python3
"""Checks the deployment artefacts under deploy/ against each other and against the CRDs.

    python3 deploy/check.py            # check everything; exit 1 on any failure
    python3 deploy/check.py --write    # re-render deploy/manifests/kaptain-operator.yaml first
    python3 deploy/check.py --strict   # warnings (known problems of the generated CRDs) fail too

What it checks:
  - deploy/helm/kaptain/crds/ holds exactly deploy/crds/kaptain.dev_crds.yaml, byte for byte;
  - deploy/manifests/example-policies.yaml, the chart's values.examplePolicy and the policies in
    deploy/README.md validate against the CRDs' openAPIV3Schema (required fields, types, enums,
    bounds, oneOf, unknown fields), their durations parse as Go durations, quantities as
    Kubernetes quantities, and every `match.checks` entry names a check id (or domain) of the
    catalog in README.md;
  - values.yaml validates against values.schema.json;
  - deploy/manifests/kaptain-operator.yaml: parses, holds the CRDs unchanged, and its RBAC is
    least-privilege (no wildcards, no Secrets by default, writes only on the allowed list), yet
    grants every call the operator makes; the container runs exactly `kaptain operator
    --namespace kaptain-system --metrics-addr 0.0.0.0:9090`;
  - with Helm at hand (a `helm` binary on PATH, or the `helm_python` module of the
    helm-python-sdk package): `helm lint --strict`, and the rendered default chart equals
    deploy/manifests/kaptain-operator.yaml. Without Helm these two are reported as skipped;
  - deploy/grafana/kaptain-operator.json: valid JSON, every kaptain_* metric its queries use is
    in the metrics table of deploy/README.md (and every listed one is shown), and its queries
    group and filter only by labels those metrics have;
  - the metrics table of deploy/README.md lists exactly what the operator exports
    (crates/kaptain-operator/src/metrics.rs), with its type and labels;
  - with Helm, rbac.readSecrets=true grants Secrets and passes --read-secrets to the operator;
  - `kaptain serve` (values.serve, off by default: the default render holds none of it): with
    Helm, the chart rendered with serve.enabled=true (SQLite on a PVC) and with PostgreSQL, 2
    replicas, OIDC, TLS, Ingress and ServiceMonitor passes `helm lint --strict`; the server's
    exact command (every flag one of ServeArgs in crates/kaptain/src/cli.rs), the database URL
    and secret key only from Secrets, hardening, probes, volumes, PVC, Service, Ingress and
    ServiceMonitor; its own ServiceAccount's RBAC is least-privilege (no wildcards, no Secrets
    unless rbac.readSecrets, nothing it does not do, writes only SERVER_ALLOWED_WRITES) yet
    grants everything it does; impossible values (SQLite with 2 replicas, PostgreSQL without a
    secret key, no store, half an OIDC configuration) fail the render; values.schema.json (and
    Helm) refuse bad server values; NOTES.txt says how to reach it and create a token.

Needs Python 3.9+ and PyYAML (`python3 -c "import yaml"`; else `pip install pyyaml`).
Prints one line per check and ends with `N passed, N failed`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("deploy/check.py needs PyYAML: pip install pyyaml")

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
CRDS = DEPLOY / "crds" / "kaptain.dev_crds.yaml"
CHART = DEPLOY / "helm" / "kaptain"
CHART_CRDS = CHART / "crds"
MANIFEST = DEPLOY / "manifests" / "kaptain-operator.yaml"
EXAMPLES = DEPLOY / "manifests" / "example-policies.yaml"
DASHBOARD = DEPLOY / "grafana" / "kaptain-operator.json"
SERVER_DASHBOARD = DEPLOY / "grafana" / "kaptain-server.json"
SERVER_METRICS = ROOT / "crates" / "kaptain-server" / "src" / "metrics.rs"
DEPLOY_README = DEPLOY / "README.md"
ROOT_README = ROOT / "README.md"

RELEASE = "kaptain"
NAMESPACE = "kaptain-system"

# --------------------------------------------------------------------------------------------
# A small validator for the structural OpenAPI v3 schemas of CRDs (and the JSON Schema subset
# values.schema.json uses).


def _type_ok(value, t: str) -> bool:
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "null":
        return value is None
    raise ValueError(f"schema type {t!r} not supported")


_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint32": (0, 2**32 - 1),
}


def validate(value, schema: dict, path: str = "", crd: bool = True) -> list[str]:
    """Errors of `value` against `schema`, each prefixed with its path (`.spec.actions[0]`).

    With `crd`, an object schema without `additionalProperties` is closed (the API server
    prunes unknown fields, so a field there is a mistake); in plain JSON Schema it is open.
    """
    where = path or "."
    if value is None:
        if schema.get("nullable") or "null" in _types(schema):
            return []
        if "type" in schema or "properties" in schema:
            return [f"{where}: null is not allowed"]
        return []
    errors: list[str] = []
    types = _types(schema)
    if schema.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    if types and not any(_type_ok(value, t) for t in types):
        return [f"{where}: expected {' or '.join(types)}, got {type(value).__name__} {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        allowed = [e for e in schema["enum"] if e is not None]
        errors.append(f"{where}: {value!r} is not one of {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is above the maximum {schema['maximum']}")
        rng = _INT_RANGES.get(schema.get("format", ""))
        if rng and isinstance(value, int) and not rng[0] <= value <= rng[1]:
            errors.append(f"{where}: {value} does not fit {schema['format']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: longer than {schema['maxLength']}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += validate(item, schema["items"], f"{path}[{i}]", crd)
    if isinstance(value, dict):
        errors += _validate_object(value, schema, path, crd)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            ok = sum(1 for s in schema[key] if not validate(value, s, path, crd))
            if key == "oneOf" and ok != 1:
                errors.append(f"{where}: must match exactly one of {_branches(schema[key])}, "
                              f"matches {ok}")
            if key == "anyOf" and ok == 0:
                errors.append(f"{where}: matches none of {_branches(schema[key])}")
    for s in schema.get("allOf", []):
        errors += validate(value, s, path, crd)
    return errors


def _types(schema: dict) -> list[str]:
    t = schema.get("type")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


def _branches(branches: list[dict]) -> str:
    names = ["/".join(b.get("required", [])) or "?" for b in branches]
    return ", ".join(names)


def _validate_object(value: dict, schema: dict, path: str, crd: bool) -> list[str]:
    errors = []
    where = path or "."
    props = schema.get("properties", {})
    for req in schema.get("required", []):
        if req not in value:
            errors.append(f"{where}: missing required field {req!r}")
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append(f"{where}: fewer than {schema['minProperties']} fields")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{where}: more than {schema['maxProperties']} fields")
    extra = schema.get("additionalProperties")
    # A branch of oneOf/anyOf (`{required: [scale]}`) constrains nothing but its keys.
    describes_fields = "properties" in schema or "object" in _types(schema) or extra is False
    open_ = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True or \
        (extra is None and not crd) or not describes_fields
    # A CRD object schema with neither properties nor additionalProperties (e.g. `{type:
    # object}` for `cordonNode: {}`) is pruned to {} by the API server: fields there are
    # unknown, except where the schema says to keep them.
    for k, v in value.items():
        sub = f"{path}.{k}"
        if k in props:
            errors += validate(v, props[k], sub, crd)
        elif isinstance(extra, dict):
            errors += validate(v, extra, sub, crd)
        elif not open_:
            known = ", ".join(sorted(props)) or "none"
            errors.append(f"{sub}: unknown field (known here: {known})")
    return errors


# --------------------------------------------------------------------------------------------
# Value formats the schema leaves as plain strings.

GO_DURATION = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)$")
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def check_ids() -> set[str]:
    """Check ids from the catalog table in README.md (generated from `kaptain checks`)."""
    text = ROOT_README.read_text()
    m = re.search(r"<!-- checks:start -->(.*?)<!-- checks:end -->", text, re.S)
    if not m:
        return set()
    return set(re.findall(r"^\| `([a-z0-9.-]+)` \|", m.group(1), re.M))


def policy_semantics(spec: dict, where: str, ids: set[str]) -> list[str]:
    errors = []
    m = spec.get("match") or {}
    durations = [
        ("match.forDuration", m.get("forDuration")),
        ("rateLimit.cooldownPerObject", (spec.get("rateLimit") or {}).get("cooldownPerObject")),
        ("verification.window", (spec.get("verification") or {}).get("window")),
    ]
    for field, d in durations:
        if d is not None and not (isinstance(d, str) and GO_DURATION.match(d)):
            errors.append(f"{where}.spec.{field}: {d!r} is not a duration like 5m or 1h30m")
    domains = {i.split(".", 1)[0] for i in ids}
    for i, c in enumerate(m.get("checks") or []):
        if ids and c not in ids and c not in domains:
            errors.append(f"{where}.spec.match.checks[{i}]: {c!r} is no check id or domain "
                          f"(see `kaptain checks`)")
    for i, a in enumerate(spec.get("actions") or []):
        rr = a.get("raiseResources") if isinstance(a, dict) else None
        if isinstance(rr, dict) and "max" in rr and not QUANTITY.match(str(rr["max"])):
            errors.append(f"{where}.spec.actions[{i}].raiseResources.max: {rr['max']!r} is "
                          f"not a quantity like 2Gi or 500m")
        sc = a.get("scale") if isinstance(a, dict) else None
        if isinstance(sc, dict) and isinstance(sc.get("min"), int) and \
                isinstance(sc.get("max"), int) and sc["min"] > sc["max"]:
            errors.append(f"{where}.spec.actions[{i}].scale: min is above max")
    return errors


# --------------------------------------------------------------------------------------------
# Loading.


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def crd_schemas() -> dict[str, tuple[dict, str]]:
    """kind -> (openAPIV3Schema of the storage version, scope)."""
    out = {}
    for crd in load_docs(CRDS):
        spec = crd["spec"]
        version = next(v for v in spec["versions"] if v.get("storage"))
        out[spec["names"]["kind"]] = (version["schema"]["openAPIV3Schema"], spec["scope"])
    return out


def validate_resource(doc: dict, schemas: dict, where: str, ids: set[str]) -> list[str]:
    kind = doc.get("kind")
    if doc.get("apiVersion") != "kaptain.dev/v1alpha1" or kind not in schemas:
        return [f"{where}: not a kaptain.dev/v1alpha1 resource ({doc.get('apiVersion')} {kind})"]
    schema, scope = schemas[kind]
    errors = []
    meta = doc.get("metadata") or {}
    name = meta.get("name", "")
    if not DNS_SUBDOMAIN.match(name or "") or len(name) > 253:
        errors.append(f"{where}.metadata.name: {name!r} is not a valid object name")
    ns = meta.get("namespace")
    if scope == "Namespaced" and ns is not None and not DNS_LABEL.match(ns):
        errors.append(f"{where}.metadata.namespace: {ns!r} is not a valid namespace")
    if scope == "Cluster" and ns is not None:
        errors.append(f"{where}.metadata.namespace: {kind} is cluster-scoped")
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    errors += [f"{where}{e}" for e in validate(body, schema)]
    if isinstance(doc.get("spec"), dict):
        errors += policy_semantics(doc["spec"], where, ids)
    return errors


# --------------------------------------------------------------------------------------------
# Helm (optional).

# Helm's install order (pkg/release/util/kind_sorter.go), for a stable rendered file.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]


def helm_backend() -> str | None:
    if shutil.which("helm"):
        return "helm"
    try:
        import helm_python  # noqa: F401
        return "helm_python"
    except ImportError:
        return None


def helm_lint(backend: str, values: dict | None = None) -> list[str]:
    if backend == "helm":
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values or {}, f)
            f.flush()
            r = subprocess.run(["helm", "lint", "--strict", str(CHART), "-n", NAMESPACE,
                                "-f", f.name], capture_output=True, text=True)
        return [] if r.returncode == 0 else [r.stdout + r.stderr]
    import helm_python
    report = helm_python.lint(str(CHART), values or None, strict=True, namespace=NAMESPACE)
    return [m["path"] + ": " + m["error"] for m in report["messages"] if m["severity"] >= 2] + \
        list(report.get("errors", []))


def helm_render(backend: str, values: dict | None = None) -> list[tuple[str, str]]:
    """(source template, YAML text) of every document the chart renders (with default values,
    or these `values` over them), CRDs left out."""
    if backend == "helm":
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values or {}, f)
            f.flush()
            r = subprocess.run(["helm", "template", RELEASE, str(CHART), "-n", NAMESPACE,
                                "-f", f.name], capture_output=True, text=True, check=True)
        out, source = [], "?"
        for part in re.split(r"^---\s*$", r.stdout, flags=re.M):
            m = re.search(r"^# Source: (.+)$", part, re.M)
            if m:
                source = m.group(1).strip()
                part = part.replace(m.group(0), "", 1)
            out.append((source, part))
    else:
        import helm_python
        chart = helm_python.Chart.load(str(CHART))
        rendered = chart.render(values or None, name=RELEASE, namespace=NAMESPACE,
                                is_install=True)
        out = []
        for source, text in rendered.items():
            if source.endswith("NOTES.txt"):
                continue
            out += [(source, part) for part in re.split(r"^---\s*$", text, flags=re.M)]
    docs = []
    for source, text in out:
        text = text.strip("\n")
        if yaml.safe_load(text) is not None:
            docs.append((source, text))
    return docs


def render_manifest(docs: list[tuple[str, str]]) -> str:
    def order(item):
        d = yaml.safe_load(item[1])
        kind = d.get("kind", "")
        rank = INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER)
        return (rank, kind, d["metadata"].get("name", ""))

    out = [
        "# Kaptain healing operator: the Helm chart deploy/helm/kaptain rendered with default",
        f"# values for namespace {NAMESPACE} (`python3 deploy/check.py --write` regenerates it;",
        "# do not edit by hand). Apply with:",
        "#   kubectl apply -f deploy/manifests/kaptain-operator.yaml",
        "# It includes the CRDs (deploy/crds/kaptain.dev_crds.yaml) and the namespace.",
        "---",
        "apiVersion: v1",
        "kind: Namespace",
        "metadata:",
        f"  name: {NAMESPACE}",
        "  labels:",
        "    app.kubernetes.io/part-of: kaptain",
    ]
    crd_text = CRDS.read_text()
    crd_text = "\n".join(l for l in crd_text.splitlines() if not l.startswith("# Generated"))
    for part in re.split(r"^---\s*$", crd_text, flags=re.M):
        if part.strip():
            out += ["---", "# Source: kaptain/crds/kaptain.dev_crds.yaml", part.strip("\n")]
    for source, text in sorted(docs, key=order):
        out += ["---", f"# Source: {source}", text]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# RBAC policy of the default install.

READ = {"get", "list", "watch"}
# What the operator does (crates/kaptain-operator/src): reflectors list+watch the analyzed
# kinds, the executor gets a target fresh and patches/deletes it (never a subresource such as
# /scale), the recorder creates core/v1 Events, the policy status is a merge patch of the
# status subresource, a HealingAction is created and its status replaced (PUT).
# (apiGroup, resource) -> write verbs the operator may hold by default (the ClusterRole).
ALLOWED_WRITES = {
    ("apps", "deployments"): {"patch"},
    ("apps", "statefulsets"): {"patch"},
    ("apps", "daemonsets"): {"patch"},
    ("apps", "replicasets"): {"patch"},
    ("batch", "cronjobs"): {"patch"},
    ("", "pods"): {"delete"},
    ("", "nodes"): {"patch"},
    ("", "events"): {"create"},
    ("kaptain.dev", "healingactions"): {"create"},
    ("kaptain.dev", "healingactions/status"): {"update"},
    ("kaptain.dev", "healingpolicies/status"): {"patch"},
    ("kaptain.dev", "clusterhealingpolicies/status"): {"patch"},
}
# (apiGroup, resource) -> verbs the operator needs cluster-wide; each must be granted.
_READS = {
    "": ["pods", "nodes", "namespaces", "services", "endpoints", "configmaps", "serviceaccounts",
         "persistentvolumeclaims", "persistentvolumes", "events", "resourcequotas"],
    "apps": ["deployments", "replicasets", "statefulsets", "daemonsets"],
    "batch": ["jobs", "cronjobs"],
    "networking.k8s.io": ["ingresses", "ingressclasses", "networkpolicies"],
    "storage.k8s.io": ["storageclasses"],
    "autoscaling": ["horizontalpodautoscalers"],
    "policy": ["poddisruptionbudgets"],
    "admissionregistration.k8s.io": ["validatingwebhookconfigurations",
                                     "mutatingwebhookconfigurations"],
    "kaptain.dev": ["healingpolicies", "clusterhealingpolicies", "healingactions"],
}
REQUIRED = {(g, r): set(READ) for g, rs in _READS.items() for r in rs}
for _k, _v in ALLOWED_WRITES.items():
    REQUIRED[_k] = REQUIRED.get(_k, set()) | _v
# The Role in the operator's namespace (names from crates/kaptain-operator/src/config.rs):
# (apiGroup, resource) -> {resourceName: verbs}; `create` alone is granted without a name.
ROLE_NAMES = {
    ("coordination.k8s.io", "leases"): {"kaptain-operator-leader": {"get", "update"}},
    ("", "configmaps"): {"kaptain-operator-state": {"get", "patch"},
                         "kaptain-operator-config": {"get", "list", "watch"}},
}
ROLE_CREATE = {("coordination.k8s.io", "leases"), ("", "configmaps")}


def granted(role: dict) -> dict:
    """(apiGroup, resource, resourceName or None) -> verbs, over the role's rules."""
    out: dict = {}
    for rule in role.get("rules", []):
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for n in rule.get("resourceNames") or [None]:
                    out.setdefault((g, r, n), set()).update(rule["verbs"])
    return out


def rbac_errors(docs: list[dict]) -> list[str]:
    errors = []
    operator_roles = [d for d in docs if d.get("kind") in ("ClusterRole", "Role")
                      and d["metadata"]["name"] == "kaptain-operator"]
    if len(operator_roles) != 2:
        return ["expected the ClusterRole and the Role kaptain-operator"]
    for role in operator_roles:
        kind = role["kind"]
        for i, rule in enumerate(role.get("rules", [])):
            where = f"{kind} rule {i}"
            verbs, groups, resources = set(rule["verbs"]), rule["apiGroups"], rule["resources"]
            if "*" in verbs or "*" in groups or "*" in resources:
                errors.append(f"{where}: wildcard")
            if verbs & {"escalate", "bind", "impersonate", "deletecollection"}:
                errors.append(f"{where}: forbidden verb {sorted(verbs)}")
            for g in groups:
                for r in resources:
                    if r == "secrets":
                        errors.append(f"{where}: secrets granted without rbac.readSecrets")
                    writes = verbs - READ
                    if kind == "Role":
                        # create cannot be limited by name; everything else must be.
                        names = ROLE_NAMES.get((g, r))
                        if names is None:
                            errors.append(f"{where}: {g}/{r} is not the lease or a ConfigMap "
                                          f"of the operator")
                        elif verbs == {"create"}:
                            if rule.get("resourceNames"):
                                errors.append(f"{where}: create limited by resourceNames "
                                              f"(never matches)")
                        elif not rule.get("resourceNames"):
                            errors.append(f"{where}: {g}/{r} not limited to "
                                          f"{sorted(names)}")
                        else:
                            for n in rule["resourceNames"]:
                                if n not in names:
                                    errors.append(f"{where}: {g}/{r} {n} is not one of "
                                                  f"{sorted(names)}")
                                elif verbs - names[n]:
                                    errors.append(f"{where}: {sorted(verbs - names[n])} on "
                                                  f"{r} {n}")
                        continue
                    if r.endswith("/status") and verbs & READ:
                        errors.append(f"{where}: read verbs on a status subresource")
                    extra = writes - ALLOWED_WRITES.get((g, r), set())
                    if extra:
                        errors.append(f"{where}: {sorted(extra)} on {g or 'core'}/{r} "
                                      f"is not an allowed write")
    # ... and everything the operator does is granted.
    roles = {d["kind"]: granted(d) for d in operator_roles}
    cluster = roles.get("ClusterRole", {})
    for (g, r), want in sorted(REQUIRED.items()):
        missing = want - cluster.get((g, r, None), set())
        if missing:
            errors.append(f"ClusterRole: {sorted(missing)} on {g or 'core'}/{r} missing "
                          f"(the operator needs it)")
    role = roles.get("Role", {})
    for (g, r), names in sorted(ROLE_NAMES.items()):
        if (g, r) in ROLE_CREATE and "create" not in role.get((g, r, None), set()):
            errors.append(f"Role: create on {g or 'core'}/{r} missing")
        for n, want in sorted(names.items()):
            missing = want - role.get((g, r, n), set())
            if missing:
                errors.append(f"Role: {sorted(missing)} on {g or 'core'}/{r} {n} missing")
    return errors


def read_secrets_errors(docs: list[dict]) -> list[str]:
    """With rbac.readSecrets=true: Secrets readable and the operator started with
    --read-secrets (it watches Secrets only then); never the flag without the permission."""
    errors = []
    cr = [d for d in docs if d.get("kind") == "ClusterRole"
          and d["metadata"]["name"] == "kaptain-operator"]
    if not cr or not READ <= granted(cr[0]).get(("", "secrets", None), set()):
        errors.append("rbac.readSecrets=true does not grant get/list/watch on secrets")
    dep = [d for d in docs if d.get("kind") == "Deployment"]
    args = dep[0]["spec"]["template"]["spec"]["containers"][0].get("args", []) if dep else []
    if "--read-secrets" not in args:
        errors.append(f"rbac.readSecrets=true does not pass --read-secrets: args {args}")
    return errors


# --------------------------------------------------------------------------------------------
# `kaptain serve` (values.serve, off by default).

SERVER = f"{RELEASE}-server"
SERVE_CLI = ROOT / "crates" / "kaptain" / "src" / "cli.rs"
# What `kaptain serve` calls with its ServiceAccount (crates/kaptain-engine/src): the live
# cluster's reflectors list+watch the analyzers' kinds (live/worker.rs, kaptain-sources
# watch.rs) and the HealingActions (live/connect.rs); the `logs` tool gets pods/log
# (tools/read/cluster.rs); heal_plan and approvals get/list the policies (healing/ops.rs,
# tools/host.rs); proposals through /mcp and /api/v1/ask create a HealingAction
# (tools/host.rs submit); approve/reject replace its status (ops.rs replace_status) and
# record an Event (healing/recorder.rs). (apiGroup, resource) -> the verbs it may hold.
SERVER_ALLOWED_WRITES = {
    ("kaptain.dev", "healingactions"): {"create"},
    ("kaptain.dev", "healingactions/status"): {"update"},
    ("", "events"): {"create"},
}
SERVER_NEEDS = {(g, r): set(READ) for g, rs in _READS.items() if g != "kaptain.dev"
                for r in rs}
SERVER_NEEDS.update({
    ("", "pods/log"): {"get"},
    ("kaptain.dev", "healingpolicies"): {"get", "list"},
    ("kaptain.dev", "clusterhealingpolicies"): {"get", "list"},
    ("kaptain.dev", "healingactions"): set(READ),
})
for _k, _v in SERVER_ALLOWED_WRITES.items():
    SERVER_NEEDS[_k] = SERVER_NEEDS.get(_k, set()) | _v
# The Role in the operator's namespace: the safety configuration and the state an approval is
# checked against (healing/mod.rs load_safety, healing/state.rs load), read with a GET.
SERVER_ROLE_NAMES = {("", "configmaps"): {"kaptain-operator-config": {"get"},
                                          "kaptain-operator-state": {"get"}}}

SERVE_SQLITE = {"serve": {"enabled": True}}
SERVE_POSTGRES = {"serve": {
    "enabled": True, "replicaCount": 2,
    "database": {"existingSecret": "kaptain-db", "key": "url"},
    "secretKey": {"existingSecret": "kaptain-secret-key", "key": "key"},
    "oidc": {"issuer": "https://idp.example", "audience": "kaptain",
             "jwksUrl": "https://idp.example/jwks.json"},
    "tls": {"secretName": "kaptain-server-tls"},
    "ingress": {"enabled": True, "className": "nginx", "host": "kaptain.example.com",
                "tlsSecretName": "kaptain-example-tls",
                "annotations": {"nginx.ingress.kubernetes.io/backend-protocol": "HTTPS"}},
    "serviceMonitor": {"enabled": True, "tlsConfig": {"insecureSkipVerify": True}},
}}
# Values the render must refuse, with a word its message must hold.
SERVE_REFUSED = [
    ("SQLite + 2 replicas", {"serve": {"enabled": True, "replicaCount": 2}}, "PostgreSQL"),
    ("PostgreSQL without a secret key",
     {"serve": {"enabled": True, "database": {"existingSecret": "kaptain-db"}}},
     "serve.secretKey.existingSecret"),
    ("no store", {"serve": {"enabled": True, "persistence": {"enabled": False}}},
     "needs a store"),
    ("half an OIDC configuration",
     {"serve": {"enabled": True, "oidc": {"issuer": "https://idp.example"}}}, "jwksUrl"),
    ("an Ingress TLS Secret without a host",
     {"serve": {"enabled": True, "ingress": {"enabled": True, "tlsSecretName": "x-tls"}}},
     "serve.ingress.host"),
]
# Values values.schema.json must refuse (check.py's validator and Helm's both).
SERVE_BAD_VALUES = [
    {"serve": {"replicaCount": "two"}},
    {"serve": {"logFormat": "xml"}},
    {"serve": {"databse": {"existingSecret": "x"}}},
    {"serve": {"oidc": {"issuer": "idp.example"}}},
    {"serve": {"persistence": {"size": "lots"}}},
    {"serve": {"service": {"port": 0}}},
]


def merged(base, over):
    """`over` deep-merged onto `base` (as Helm merges values files)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merged(base.get(k), v) if k in base else v
        return out
    return over


def serve_flags() -> set[str]:
    """The long flags of `kaptain serve` (ServeArgs in crates/kaptain/src/cli.rs)."""
    m = re.search(r"pub struct ServeArgs \{(.*?)\n\}", SERVE_CLI.read_text(), re.S)
    if not m:
        return set()
    flags, pending = set(), None
    for line in m.group(1).splitlines():
        line = line.strip()
        if line.startswith("#[arg("):
            pending = line
            continue
        if pending is not None and not line.startswith("pub ") and not line.startswith("///"):
            pending += line  # a multi-line #[arg(...)]
            continue
        f = re.match(r"pub (\w+):", line)
        if f:
            named = re.search(r'long\s*=\s*"([a-z-]+)"', pending or "")
            flags.add("--" + (named.group(1) if named else f.group(1).replace("_", "-")))
            pending = None
    return flags


def helm_render_error(backend: str, values: dict) -> str | None:
    """Helm's error when rendering with `values` fails, else None. (NOTES.txt with a `helm`
    binary needs `helm install --dry-run=client`, Helm 3.13 or later.)"""
    if backend == "helm":
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values, f)
            f.flush()
            r = subprocess.run(["helm", "template", RELEASE, str(CHART), "-n", NAMESPACE,
                                "-f", f.name], capture_output=True, text=True)
        return None if r.returncode == 0 else (r.stderr or r.stdout).strip()
    import helm_python
    try:
        helm_python.Chart.load(str(CHART)).render(values, name=RELEASE, namespace=NAMESPACE,
                                                  is_install=True)
    except helm_python.HelmError as e:
        return str(e).strip() or type(e).__name__
    return None


def helm_notes(backend: str, values: dict) -> str:
    if backend == "helm":
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(values, f)
            f.flush()
            r = subprocess.run(["helm", "install", RELEASE, str(CHART), "-n", NAMESPACE,
                                "--dry-run=client", "-f", f.name], capture_output=True,
                               text=True, check=True)
        return r.stdout.split("NOTES:", 1)[-1]
    import helm_python
    rendered = helm_python.Chart.load(str(CHART)).render(values, name=RELEASE,
                                                         namespace=NAMESPACE, is_install=True)
    return next((t for k, t in rendered.items() if k.endswith("NOTES.txt")), "")


def render_docs(backend: str, values: dict) -> tuple[list[dict], list[str]]:
    """The documents the chart renders with `values`, or the render's error (as a failure of
    the check at hand, not a crash of check.py)."""
    try:
        return [d for _, t in helm_render(backend, values) for d in yaml.safe_load_all(t)
                if d is not None], []
    except Exception as e:  # helm_python.HelmError, CalledProcessError, yaml.YAMLError
        detail = getattr(e, "stderr", None) or str(e)
        return [], [f"rendering with {values} failed: {detail.strip()}"]


def _one(docs: list[dict], kind: str, name: str) -> dict | None:
    found = [d for d in docs if d.get("kind") == kind and d["metadata"].get("name") == name]
    return found[0] if len(found) == 1 else None


def server_objects(docs: list[dict]) -> list[str]:
    """`kind/name` of every object of the server component."""
    return [f"{d['kind']}/{d['metadata'].get('name')}" for d in docs
            if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component")
            == "server" or d["metadata"].get("name", "").startswith(SERVER)]


def server_deployment_errors(docs: list[dict], postgres: bool) -> list[str]:
    """The server's Deployment, Service, volumes (and PVC, Ingress, ServiceMonitor) as the
    values SERVE_SQLITE (postgres=False) or SERVE_POSTGRES (postgres=True) must render them."""
    errs: list[str] = []
    dep = _one(docs, "Deployment", SERVER)
    if dep is None:
        return [f"want one Deployment {SERVER}"]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"].get("labels") or {}
    ctrs = pod.get("containers") or []
    if len(ctrs) != 1:
        return [f"want one container, got {len(ctrs)}"]
    ctr = ctrs[0]
    cmd = ctr.get("command", []) + ctr.get("args", [])
    want = ["kaptain", "serve", "--in-cluster", "--listen", "0.0.0.0:7878",
            "--operator-namespace", NAMESPACE, "--log-format", "json", "--log", "info"]
    if postgres:
        o = SERVE_POSTGRES["serve"]["oidc"]
        want += ["--oidc-issuer", o["issuer"], "--oidc-audience", o["audience"],
                 "--oidc-jwks-url", o["jwksUrl"],
                 "--tls-cert", "/etc/kaptain/tls/tls.crt", "--tls-key", "/etc/kaptain/tls/tls.key"]
    else:
        want += ["--database-url", "sqlite:///var/lib/kaptain/kaptain.db",
                 "--secret-key-file", "/var/lib/kaptain/secret.key"]
    if cmd != want:
        errs.append(f"server command is {cmd}, want {want}")
    known = serve_flags()
    if not known:
        errs.append(f"no ServeArgs in {SERVE_CLI.relative_to(ROOT)}")
    for a in cmd:
        if a.startswith("--") and known and a not in known:
            errs.append(f"{a} is not a flag of `kaptain serve` (ServeArgs)")
    # The store and the key: PostgreSQL's URL and the key only from Secrets, never literal.
    env = {e["name"]: e for e in ctr.get("env") or []}
    for name, e in env.items():
        if name in ("KAPTAIN_DATABASE_URL", "KAPTAIN_SECRET_KEY") and "value" in e:
            errs.append(f"env {name} has a literal value (want a secretKeyRef)")
    ref = lambda n: ((env.get(n) or {}).get("valueFrom") or {}).get("secretKeyRef")
    if postgres:
        if spec.get("replicas") != 2:
            errs.append(f"replicas {spec.get('replicas')}, want 2")
        if (spec.get("strategy") or {}).get("type") != "RollingUpdate":
            errs.append("PostgreSQL: want a RollingUpdate")
        if ref("KAPTAIN_DATABASE_URL") != {"name": "kaptain-db", "key": "url"}:
            errs.append(f"KAPTAIN_DATABASE_URL is {env.get('KAPTAIN_DATABASE_URL')}, want "
                        f"secretKeyRef kaptain-db/url")
        if any("postgres" in str(a) for a in cmd):
            errs.append("the database URL is on the command line")
    else:
        if spec.get("replicas") != 1:
            errs.append(f"replicas {spec.get('replicas')}, want 1")
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            errs.append("SQLite on a ReadWriteOnce volume: want strategy Recreate")
        if "KAPTAIN_DATABASE_URL" in env:
            errs.append("SQLite: KAPTAIN_DATABASE_URL set")
    if postgres and ref("KAPTAIN_SECRET_KEY") != {"name": "kaptain-secret-key", "key": "key"}:
        errs.append(f"KAPTAIN_SECRET_KEY is {env.get('KAPTAIN_SECRET_KEY')}, want "
                    f"secretKeyRef kaptain-secret-key/key")
    if not postgres and "KAPTAIN_SECRET_KEY" in env:
        errs.append("KAPTAIN_SECRET_KEY set without serve.secretKey.existingSecret")
    # Hardening, as the operator's.
    psc, sc = pod.get("securityContext") or {}, ctr.get("securityContext") or {}
    if not (psc.get("runAsNonRoot") and psc.get("runAsUser") == 65532
            and (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"):
        errs.append(f"pod securityContext is not locked down: {psc}")
    if not (sc.get("readOnlyRootFilesystem") and sc.get("runAsNonRoot")
            and sc.get("allowPrivilegeEscalation") is False
            and (sc.get("capabilities") or {}).get("drop") == ["ALL"]
            and (sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"):
        errs.append(f"container securityContext is not locked down: {sc}")
    if pod_labels.get("kaptain.dev/protected") != "true":
        errs.append("pods lack the label kaptain.dev/protected: \"true\"")
    res = ctr.get("resources") or {}
    if not ((res.get("requests") or {}).get("memory") and (res.get("limits") or {}).get("memory")):
        errs.append(f"resources lack memory requests/limits: {res}")
    if pod.get("serviceAccountName") != SERVER:
        errs.append(f"serviceAccountName {pod.get('serviceAccountName')}, want {SERVER}")
    if pod.get("hostNetwork") or pod.get("hostPID"):
        errs.append("host namespaces")
    # Port and probes.
    ports = [(p.get("name"), p.get("containerPort")) for p in ctr.get("ports") or []]
    if ports != [("http", 7878)]:
        errs.append(f"container ports {ports}, want [('http', 7878)]")
    scheme = "HTTPS" if postgres else "HTTP"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = (ctr.get(probe) or {}).get("httpGet") or {}
        if (g.get("path"), g.get("port"), g.get("scheme", "HTTP")) != (path, "http", scheme):
            errs.append(f"{probe} is {g}, want GET {path} on port http over {scheme}")
    # Volumes: /tmp always; the SQLite volume or none; the TLS Secret read-only.
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {m["name"]: m for m in ctr.get("volumeMounts") or []}
    for v in vols.values():
        if "hostPath" in v:
            errs.append(f"volume {v['name']} is a hostPath")
    if "emptyDir" not in vols.get("tmp", {}) or mounts.get("tmp", {}).get("mountPath") != "/tmp":
        errs.append("no emptyDir mounted at /tmp")
    data = vols.get("data")
    pvc = _one(docs, "PersistentVolumeClaim", f"{SERVER}-data")
    if postgres:
        if data or pvc:
            errs.append("PostgreSQL: a data volume or PVC is rendered")
    else:
        if (data or {}).get("persistentVolumeClaim", {}).get("claimName") != f"{SERVER}-data" \
                or mounts.get("data", {}).get("mountPath") != "/var/lib/kaptain":
            errs.append(f"no PVC {SERVER}-data mounted at /var/lib/kaptain: {data}")
        if pvc is None:
            errs.append(f"no PersistentVolumeClaim {SERVER}-data")
        elif pvc["spec"].get("accessModes") != ["ReadWriteOnce"] or \
                pvc["spec"]["resources"]["requests"].get("storage") != "1Gi":
            errs.append(f"PVC spec {pvc['spec']}")
    tls = vols.get("tls")
    if postgres:
        if (tls or {}).get("secret", {}).get("secretName") != "kaptain-server-tls":
            errs.append(f"no TLS Secret volume kaptain-server-tls: {tls}")
        m = mounts.get("tls") or {}
        if m.get("mountPath") != "/etc/kaptain/tls" or m.get("readOnly") is not True:
            errs.append(f"TLS Secret not mounted read-only at /etc/kaptain/tls: {m}")
    elif tls or "tls" in mounts:
        errs.append("a TLS volume without serve.tls.secretName")
    # The Service selects exactly the server's pods.
    svc = _one(docs, "Service", SERVER)
    if svc is None:
        errs.append(f"no Service {SERVER}")
    else:
        sel = svc["spec"].get("selector") or {}
        sports = [(p.get("name"), p.get("port"), p.get("targetPort"))
                  for p in svc["spec"].get("ports") or []]
        if svc["spec"].get("type") != "ClusterIP" or sports != [("http", 7878, "http")]:
            errs.append(f"Service is {svc['spec'].get('type')} {sports}, want ClusterIP "
                        f"[('http', 7878, 'http')]")
        if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
            errs.append(f"Service selector {sel} does not select the server's pods")
        if sel.get("app.kubernetes.io/component") != "server":
            errs.append("Service selector does not pin app.kubernetes.io/component: server "
                        "(it would select the operator's pods too)")
    if sel_dep := (spec.get("selector") or {}).get("matchLabels"):
        if sel_dep.get("app.kubernetes.io/component") != "server":
            errs.append(f"Deployment selector {sel_dep} is not the server's")
    ing = _one(docs, "Ingress", SERVER)
    smon = _one(docs, "ServiceMonitor", SERVER)
    if postgres:
        want_ing = {"ingressClassName": "nginx",
                    "tls": [{"hosts": ["kaptain.example.com"],
                             "secretName": "kaptain-example-tls"}],
                    "rules": [{"host": "kaptain.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {
                            "name": SERVER, "port": {"name": "http"}}}}]}}]}
        if ing is None or ing.get("spec") != want_ing:
            errs.append(f"Ingress spec is {ing and ing.get('spec')}, want {want_ing}")
        ep = ((smon or {}).get("spec") or {}).get("endpoints") or [{}]
        if smon is None or (ep[0].get("port"), ep[0].get("path"), ep[0].get("scheme")) != \
                ("http", "/metrics", "https"):
            errs.append(f"ServiceMonitor endpoints {ep}, want port http /metrics over https")
        else:
            svc_labels = ((svc or {}).get("metadata") or {}).get("labels") or {}
            sel = (smon["spec"].get("selector") or {}).get("matchLabels") or {}
            if not sel or any(svc_labels.get(k) != v for k, v in sel.items()) or \
                    sel.get("app.kubernetes.io/component") != "server":
                errs.append(f"the ServiceMonitor's selector {sel} does not select the "
                            f"server's Service only")
    elif ing or smon:
        errs.append("an Ingress or ServiceMonitor without serve.ingress/serviceMonitor.enabled")
    return errs


def server_rbac_errors(docs: list[dict], read_secrets: bool = False,
                       read_logs: bool = True) -> list[str]:
    """The server's ClusterRole and Role: no wildcards, no Secrets unless readSecrets, nothing
    it does not do (writes only SERVER_ALLOWED_WRITES), everything it does granted, and both
    bound to its own ServiceAccount, which its pods run as."""
    errs: list[str] = []
    cr, role = _one(docs, "ClusterRole", SERVER), _one(docs, "Role", SERVER)
    if cr is None or role is None:
        return [f"expected the ClusterRole and the Role {SERVER}"]
    allowed = dict(SERVER_NEEDS)
    if read_secrets:
        allowed[("", "secrets")] = set(READ)
    if not read_logs:
        allowed.pop(("", "pods/log"))
    for r in (cr, role):
        kind = r["kind"]
        for i, rule in enumerate(r.get("rules", [])):
            where = f"{kind} {SERVER} rule {i}"
            verbs, groups, resources = set(rule["verbs"]), rule["apiGroups"], rule["resources"]
            if "*" in verbs or "*" in groups or "*" in resources or \
                    any("*" in x for x in resources):
                errs.append(f"{where}: wildcard")
            if rule.get("nonResourceURLs"):
                errs.append(f"{where}: nonResourceURLs")
            if verbs & {"escalate", "bind", "impersonate", "deletecollection"}:
                errs.append(f"{where}: forbidden verb {sorted(verbs)}")
            for g in groups:
                for res in resources:
                    label = f"{g or 'core'}/{res}"
                    if res == "secrets" and not read_secrets:
                        errs.append(f"{where}: secrets granted without rbac.readSecrets")
                    if kind == "Role":
                        names = SERVER_ROLE_NAMES.get((g, res))
                        if names is None:
                            errs.append(f"{where}: {label} is not a ConfigMap of the operator")
                            continue
                        if not rule.get("resourceNames"):
                            errs.append(f"{where}: {label} not limited to {sorted(names)}")
                        for n in rule.get("resourceNames") or []:
                            if n not in names:
                                errs.append(f"{where}: {label} {n} is not one of "
                                            f"{sorted(names)}")
                            elif verbs - names[n]:
                                errs.append(f"{where}: {sorted(verbs - names[n])} on {label} {n}")
                        continue
                    extra_w = (verbs - READ) - SERVER_ALLOWED_WRITES.get((g, res), set())
                    if extra_w:
                        errs.append(f"{where}: {sorted(extra_w)} on {label} is not an allowed "
                                    f"write")
                    if (g, res) not in allowed:
                        errs.append(f"{where}: {label} is not something kaptain serve reads")
                    elif (verbs & READ) - allowed[(g, res)]:
                        errs.append(f"{where}: {sorted((verbs & READ) - allowed[(g, res)])} on "
                                    f"{label}: kaptain serve does not need it")
    have = granted(cr)
    for (g, res), want in sorted(allowed.items()):
        missing = want - have.get((g, res, None), set())
        if missing:
            errs.append(f"ClusterRole {SERVER}: {sorted(missing)} on {g or 'core'}/{res} missing "
                        f"(kaptain serve needs it)")
    have = granted(role)
    for (g, res), names in SERVER_ROLE_NAMES.items():
        for n, want in names.items():
            if want - have.get((g, res, n), set()):
                errs.append(f"Role {SERVER}: get on {g or 'core'}/{res} {n} missing")
    # Bound to the server's own ServiceAccount (not the operator's), which its pods use.
    subject = {"kind": "ServiceAccount", "name": SERVER, "namespace": NAMESPACE}
    for kind, ref_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        b = _one(docs, kind, SERVER)
        if b is None or b.get("roleRef", {}).get("kind") != ref_kind or \
                b["roleRef"].get("name") != SERVER or b.get("subjects") != [subject]:
            errs.append(f"{kind} {SERVER} does not bind {ref_kind} {SERVER} to {subject}")
    for b in docs:
        if b.get("kind") in ("ClusterRoleBinding", "RoleBinding") and \
                b["metadata"]["name"] != SERVER and subject in (b.get("subjects") or []):
            errs.append(f"{b['kind']} {b['metadata']['name']} also binds the server's "
                        f"ServiceAccount")
    if _one(docs, "ServiceAccount", SERVER) is None:
        errs.append(f"no ServiceAccount {SERVER}")
    return errs


# --------------------------------------------------------------------------------------------


class Checks:
    def __init__(self, strict: bool):
        self.passed = self.failed = self.skipped = self.warned = 0
        self.strict = strict

    def report(self, name: str, errors: list[str] | None, skip: str | None = None,
               warn: bool = False):
        if warn and errors and not self.strict:
            self.passed += 1
            self.warned += 1
            print(f"WARN  {name}")
            for e in errors:
                print(f"        {e}")
        elif skip is not None:
            self.skipped += 1
            print(f"SKIP  {name}: {skip}")
        elif errors:
            self.failed += 1
            print(f"FAIL  {name}")
            for e in errors:
                print(f"        {e}")
        else:
            self.passed += 1
            print(f"ok    {name}")


def _null_enums(node, path: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        if isinstance(node.get("enum"), list) and None in node["enum"]:
            out.append(path or ".")
        for k, v in node.items():
            out += _null_enums(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _null_enums(v, f"{path}[{i}]")
    return out


def readme_policies() -> list[dict]:
    """Kaptain resources in the ```yaml blocks of deploy/README.md."""
    if not DEPLOY_README.exists():
        return []
    out = []
    for block in re.findall(r"```yaml\n(.*?)```", DEPLOY_README.read_text(), re.S):
        for d in yaml.safe_load_all(block):
            if isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("kaptain.dev/"):
                out.append(d)
    return out


# What the operator exports (crates/kaptain-operator/src/metrics.rs; prometheus-client adds
# `_total` to counters): name -> (type, labels).
METRICS = {
    "kaptain_heal_actions_total": ("counter", {"action", "result", "mode"}),
    "kaptain_heal_proposals_total": ("counter", {"action", "decision"}),
    "kaptain_heal_rejections_total": ("counter", {"rule"}),
    "kaptain_heal_circuit_breaker_state": ("gauge", {"state"}),
    "kaptain_heal_open_circuits": ("gauge", {"policy"}),
    "kaptain_operator_reconcile_duration_seconds": ("histogram", {"error_category"}),
    "kaptain_heal_finding_to_action_seconds": ("histogram", set()),
    "kaptain_operator_leader": ("gauge", set()),
    "kaptain_operator_findings": ("gauge", set()),
    "kaptain_operator_watched_objects": ("gauge", set()),
}
# Labels the scrape adds (and `le` of histogram buckets).
SCRAPE_LABELS = {"namespace", "instance", "pod", "job", "service", "endpoint", "container", "le"}


def metrics_table_errors() -> list[str]:
    """The README's metrics table lists exactly METRICS, each with its type and labels."""
    if not DEPLOY_README.exists():
        return ["no deploy/README.md"]
    rows = {m.group(1): (m.group(2).strip(), m.group(3))
            for m in re.finditer(r"^\| `(kaptain_[a-z_]+)` \|([^|]*)\|([^|]*)\|",
                                 DEPLOY_README.read_text(), re.M)}
    errors = [f"deploy/README.md lists {n}, which the operator does not export"
              for n in sorted(set(rows) - set(METRICS))]
    errors += [f"deploy/README.md does not list {n}" for n in sorted(set(METRICS) - set(rows))]
    for n, (typ, labels) in METRICS.items():
        if n not in rows:
            continue
        if rows[n][0] != typ:
            errors.append(f"deploy/README.md: {n} is a {typ}, not {rows[n][0]!r}")
        have = set(re.findall(r"`([a-z_]+)`", rows[n][1]))
        if have != labels:
            errors.append(f"deploy/README.md: {n} has labels {sorted(labels)}, not "
                          f"{sorted(have)}")
    return errors


def expr_label_errors(expr: str) -> list[str]:
    """Labels an expression groups or filters a kaptain_* metric by, that it does not have."""
    errors = []
    names = {re.sub(r"_(bucket|sum|count)$", "", m)
             for m in re.findall(r"\b(kaptain_[a-z_]+)", expr)}
    allowed = set(SCRAPE_LABELS)
    for n in names:
        allowed |= METRICS.get(n, ("", set()))[1]
    used = set()
    for grp in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        used |= {x.strip() for x in grp.split(",") if x.strip()}
    for sel in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"", sel))
    used |= set(re.findall(r"\{\{\s*([a-z_]+)\s*\}\}", expr))
    for lab in sorted(used - allowed):
        errors.append(f"{expr[:60]}...: label {lab!r} is not on {sorted(names)}")
    return errors


def documented_metrics() -> set[str]:
    if not DEPLOY_README.exists():
        return set()
    return set(re.findall(r"^\| `(kaptain_[a-z_]+)`", DEPLOY_README.read_text(), re.M))


def server_dashboard_errors() -> list[str]:
    """The server's dashboard: valid JSON, unique panel ids, and every kaptain_server_* metric
    its queries use is registered in crates/kaptain-server/src/metrics.rs (counters get
    `_total`, histograms `_bucket`/`_sum`/`_count` in the exposition), and every registered
    one is shown."""
    errs: list[str] = []
    try:
        dash = json.loads(SERVER_DASHBOARD.read_text())
    except (OSError, ValueError) as e:
        return [str(e)]
    src = SERVER_METRICS.read_text()
    registered = {"kaptain_server_" + m for m in re.findall(r'r\.register\(\s*"([a-z_]+)"', src)}
    if not registered:
        return [f"no r.register(\"...\") in {SERVER_METRICS.relative_to(ROOT)}"]
    used = set()
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            for m in re.findall(r"\b(kaptain_server_[a-z_]+)", t.get("expr", "")):
                used.add(re.sub(r"_(bucket|sum|count|total)$", "", m))
    for m in sorted(used - registered):
        errs.append(f"the dashboard uses {m}, which kaptain serve does not export")
    for m in sorted(registered - used):
        errs.append(f"kaptain serve exports {m}, which no dashboard panel shows")
    ids_ = [p.get("id") for p in dash.get("panels", [])]
    if len(ids_) != len(set(ids_)):
        errs.append("panel ids are not unique")
    return errs


def main(argv: list[str]) -> int:
    write = "--write" in argv
    c = Checks(strict="--strict" in argv)
    schemas = crd_schemas()
    ids = check_ids()

    # CRDs in the chart == the generated ones.
    files = sorted(p.name for p in CHART_CRDS.iterdir()) if CHART_CRDS.is_dir() else []
    errs = []
    if files != [CRDS.name]:
        errs.append(f"{CHART_CRDS.relative_to(ROOT)} holds {files}, want [{CRDS.name}]")
    elif (CHART_CRDS / CRDS.name).read_bytes() != CRDS.read_bytes():
        errs.append(f"differs from {CRDS.relative_to(ROOT)}: "
                    f"cp {CRDS.relative_to(ROOT)} {CHART_CRDS.relative_to(ROOT)}/")
    c.report("chart CRDs equal deploy/crds", errs)

    # Known problem of the generated CRDs (a warning until the generator is fixed; --strict
    # makes it fail): `null` inside an `enum` (schemars' Option<enum>) makes kube-apiserver
    # v1.20 reject the CRD ("per-version schemas may not all be set to identical values") and
    # kubectl's client-side validation fail ("unknown object type nil").
    errs = [f"{crd['metadata']['name']}: {path} has null in its enum; drop it (nullable: true "
            f"already allows null)" for crd in load_docs(CRDS) for path in _null_enums(crd)]
    c.report("CRD enums hold no null (kube-apiserver rejects them)", errs, warn=True)

    c.report("check catalog found in README.md", [] if ids else ["no checks table"])

    # Example policies.
    docs = load_docs(EXAMPLES)
    errs = []
    for i, d in enumerate(docs):
        errs += validate_resource(d, schemas, f"doc {i} ({d.get('kind')} "
                                  f"{(d.get('metadata') or {}).get('name')})", ids)
    modes = sorted((d.get("spec") or {}).get("mode", "dry-run") for d in docs)
    if len(docs) != 3 or modes != ["approval", "auto", "dry-run"]:
        errs.append(f"want 3 policies in modes approval, auto, dry-run; got {modes}")
    c.report(f"{EXAMPLES.relative_to(ROOT)} validates against the CRDs", errs)

    # The chart's example policy.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    ep = values.get("examplePolicy") or {}
    doc = {"apiVersion": "kaptain.dev/v1alpha1", "kind": "HealingPolicy",
           "metadata": {"name": ep.get("name"), "namespace": "default"}, "spec": ep.get("spec")}
    errs = validate_resource(doc, schemas, "values.examplePolicy", ids)
    if ep.get("enabled") is not False:
        errs.append("values.examplePolicy.enabled must default to false")
    if (ep.get("spec") or {}).get("mode", "dry-run") != "dry-run":
        errs.append("values.examplePolicy.spec.mode must be dry-run")
    c.report("values.examplePolicy validates against the CRD", errs)

    # Policies shown in deploy/README.md.
    docs = readme_policies()
    errs = []
    for i, d in enumerate(docs):
        errs += validate_resource(d, schemas, f"README policy {i}", ids)
    c.report("policies in deploy/README.md validate against the CRDs",
             errs if docs else ["no kaptain.dev resource in a ```yaml block"])

    # values.yaml against values.schema.json.
    vschema = json.loads((CHART / "values.schema.json").read_text())
    c.report("values.yaml validates against values.schema.json", validate(values, vschema, crd=False))
    errs = []
    for over in (SERVE_SQLITE, SERVE_POSTGRES):
        errs += [f"{over}: {e}" for e in validate(merged(values, over), vschema, crd=False)]
    for bad in SERVE_BAD_VALUES:
        if not validate(merged(values, bad), vschema, crd=False):
            errs.append(f"{bad} passes values.schema.json")
    c.report("values.schema.json: the server's values (valid ones pass, bad ones fail)", errs)

    # Helm lint and render.
    backend = helm_backend()
    if backend is None:
        why = "no helm binary and no helm_python module (pip install helm-python-sdk)"
        c.report("helm lint --strict", None, skip=why)
        c.report("rbac.readSecrets=true: Secrets readable, operator run with --read-secrets",
                 None, skip=why)
        c.report("rendered chart equals deploy/manifests/kaptain-operator.yaml", None, skip=why)
        for name in ("serve (SQLite): Deployment, probes, volumes, PVC, Service",
                     "serve (PostgreSQL, 2 replicas, OIDC, TLS, Ingress, ServiceMonitor)",
                     "serve RBAC: its own ServiceAccount, least privilege",
                     "serve: impossible values fail the render",
                     "serve: values.schema.json refuses bad values (Helm)",
                     "serve: NOTES.txt says how to reach it and create a token"):
            c.report(name, None, skip=why)
        if write:
            print("cannot --write without Helm", file=sys.stderr)
            return 1
    else:
        c.report(f"helm lint --strict ({backend})", helm_lint(backend))
        rendered = render_manifest(helm_render(backend))
        if write:
            MANIFEST.write_text(rendered)
            print(f"wrote {MANIFEST.relative_to(ROOT)}")
        have = load_docs(MANIFEST) if MANIFEST.exists() else []
        want = [d for d in yaml.safe_load_all(rendered) if d is not None]
        key = lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
        errs = []
        if sorted(map(json.dumps, have)) != sorted(map(json.dumps, want)):
            hk, wk = {key(d): d for d in have}, {key(d): d for d in want}
            errs += [f"missing {k}" for k in wk if k not in hk]
            errs += [f"extra {k}" for k in hk if k not in wk]
            errs += [f"differs: {k}" for k in wk if k in hk and hk[k] != wk[k]]
            errs.append("regenerate with: python3 deploy/check.py --write")
        c.report(f"rendered chart equals {MANIFEST.relative_to(ROOT)} ({backend})", errs)
        opt_in = [d for _, t in helm_render(backend, {"rbac": {"readSecrets": True}})
                  for d in yaml.safe_load_all(t) if d is not None]
        c.report(f"rbac.readSecrets=true: Secrets readable, operator run with --read-secrets "
                 f"({backend})", read_secrets_errors(opt_in))

        # `kaptain serve`: off by default (the default render above holds none of it).
        c.report(f"serve.enabled=false by default: nothing of the server rendered ({backend})",
                 [f"rendered {o}" for o in server_objects(want)]
                 + ([] if values.get("serve", {}).get("enabled") is False
                    else ["values.serve.enabled must default to false"]))
        lint = helm_lint(backend, SERVE_POSTGRES) + helm_lint(backend, SERVE_SQLITE)
        c.report(f"helm lint --strict with the server enabled (SQLite; PostgreSQL) ({backend})",
                 lint)
        sqlite, sqlite_err = render_docs(backend, SERVE_SQLITE)
        c.report(f"serve (SQLite): Deployment, probes, volumes, PVC, Service ({backend})",
                 sqlite_err or server_deployment_errors(sqlite, postgres=False))
        pg, pg_err = render_docs(backend, SERVE_POSTGRES)
        c.report(f"serve (PostgreSQL, 2 replicas, OIDC, TLS, Ingress, ServiceMonitor) "
                 f"({backend})", pg_err or server_deployment_errors(pg, postgres=True))
        errs = sqlite_err + pg_err
        errs += [f"SQLite: {e}" for e in server_rbac_errors(sqlite)]
        errs += [f"PostgreSQL: {e}" for e in server_rbac_errors(pg)]
        errs += [f"operator: {e}" for e in rbac_errors(sqlite)]
        secrets, e = render_docs(backend, merged(SERVE_SQLITE, {"rbac": {"readSecrets": True}}))
        errs += e + [f"rbac.readSecrets=true: {x}"
                     for x in server_rbac_errors(secrets, read_secrets=True)]
        nologs, e = render_docs(backend, merged(SERVE_SQLITE,
                                                {"serve": {"rbac": {"readLogs": False}}}))
        errs += e + [f"serve.rbac.readLogs=false: {x}"
                     for x in server_rbac_errors(nologs, read_logs=False)]
        c.report(f"serve RBAC: its own ServiceAccount, least privilege ({backend})", errs)
        errs = []
        for what, vals, word in SERVE_REFUSED:
            e = helm_render_error(backend, vals)
            if e is None:
                errs.append(f"{what}: rendered, want a failure")
            elif word not in e:
                errs.append(f"{what}: fails with {e!r}, which does not say {word!r}")
        if (e := helm_render_error(backend, SERVE_POSTGRES)) is not None:
            errs.append(f"PostgreSQL with 2 replicas: {e}")
        c.report(f"serve: impossible values fail the render ({backend})", errs)
        errs = [f"{bad}: rendered" for bad in SERVE_BAD_VALUES
                if helm_render_error(backend, bad) is None]
        c.report(f"serve: values.schema.json refuses bad values (Helm) ({backend})", errs)
        try:
            notes = helm_notes(backend, SERVE_SQLITE)
        except Exception as e:  # a render error, reported by the checks above
            notes = str(e)
        want_notes = [f"port-forward svc/{SERVER} 7878",
                      f"exec deploy/{SERVER} -- kaptain token create --name admin --role admin "
                      f"--database-url sqlite:///var/lib/kaptain/kaptain.db"]
        c.report(f"serve: NOTES.txt says how to reach it and create a token ({backend})",
                 [f"NOTES.txt lacks {w!r}" for w in want_notes if w not in notes])

    # The committed plain manifest.
    docs = load_docs(MANIFEST)
    errs = []
    crds_in = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    if crds_in != load_docs(CRDS):
        errs.append("its CustomResourceDefinitions differ from deploy/crds")
    for d in docs:
        meta = d.get("metadata") or {}
        if not (d.get("apiVersion") and d.get("kind") and meta.get("name")):
            errs.append(f"a document lacks apiVersion/kind/metadata.name: {str(d)[:80]}")
    dep = [d for d in docs if d.get("kind") == "Deployment"]
    if len(dep) != 1:
        errs.append("want one Deployment")
    else:
        spec = dep[0]["spec"]
        ctr = spec["template"]["spec"]["containers"][0]
        cmd = ctr.get("command", []) + ctr.get("args", [])
        # The flags of `kaptain operator` (crates/kaptain/src/cli.rs, OperatorArgs).
        want_cmd = ["kaptain", "operator", "--namespace", NAMESPACE, "--metrics-addr",
                    "0.0.0.0:9090"]
        if cmd != want_cmd:
            errs.append(f"operator command is {cmd}, want {want_cmd} (no --read-secrets "
                        f"by default)")
        if spec.get("replicas") != 2:
            errs.append("want 2 replicas")
        sc = ctr.get("securityContext", {})
        if not (sc.get("readOnlyRootFilesystem") and sc.get("runAsNonRoot")
                and sc.get("capabilities", {}).get("drop") == ["ALL"]
                and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"):
            errs.append("container securityContext is not locked down")
        probes = {p: ctr.get(p, {}).get("httpGet", {}).get("path")
                  for p in ("livenessProbe", "readinessProbe")}
        if probes != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
            errs.append(f"probes are {probes}")
    if not any(d.get("kind") == "PodDisruptionBudget" and d["spec"].get("minAvailable") == 1
               for d in docs):
        errs.append("no PodDisruptionBudget with minAvailable 1")
    for d in docs:
        ns = (d.get("metadata") or {}).get("namespace")
        if ns is not None and ns != NAMESPACE:
            errs.append(f"{d['kind']} {d['metadata']['name']} is in namespace {ns}")
    errs += rbac_errors(docs)
    c.report(f"{MANIFEST.relative_to(ROOT)}: CRDs, Deployment, least-privilege RBAC", errs)

    # Grafana dashboard.
    errs = []
    try:
        dash = json.loads(DASHBOARD.read_text())
    except (OSError, ValueError) as e:
        dash = None
        errs.append(str(e))
    if dash is not None:
        documented = documented_metrics()
        if not documented:
            errs.append("no metrics table (| `kaptain_...` |) in deploy/README.md")
        exprs = [t.get("expr", "") for p in dash.get("panels", []) for t in p.get("targets", [])]
        used = set()
        for e in exprs:
            used |= {re.sub(r"_(bucket|sum|count)$", "", m)
                     for m in re.findall(r"\b(kaptain_[a-z_]+)", e)}
        for m in sorted(used - documented):
            errs.append(f"the dashboard uses {m}, which deploy/README.md does not list")
        for m in sorted(documented - used):
            errs.append(f"deploy/README.md lists {m}, which no dashboard panel shows")
        for p in dash.get("panels", []):
            for t in p.get("targets", []):
                errs += [f"panel {p.get('id')} ({p.get('title')}): {e}"
                         for e in expr_label_errors(t.get("expr", "") + " "
                                                    + t.get("legendFormat", ""))]
        ids_ = [p.get("id") for p in dash.get("panels", [])]
        if len(ids_) != len(set(ids_)):
            errs.append("panel ids are not unique")
    c.report(f"{DASHBOARD.relative_to(ROOT)} uses the documented metrics and their labels",
             errs)
    c.report("deploy/README.md's metrics table matches the operator's metrics (metrics.rs)",
             metrics_table_errors())

    c.report(f"{SERVER_DASHBOARD.relative_to(ROOT)} uses only what kaptain serve exports",
             server_dashboard_errors())

    if c.warned:
        print(f"{c.warned} warning(s): see WARN above (--strict makes them failures)")
    print(f"{c.passed} passed, {c.failed} failed, {c.skipped} skipped")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
