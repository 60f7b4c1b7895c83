#compdef kaptain

autoload -U is-at-least

_kaptain() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_kaptain_commands" \
"*::: :->kaptain" \
&& ret=0
    case $state in
    (kaptain)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-command-$line[1]:"
        case $line[1] in
            (diagnose)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'-n+[Namespace to scan (default\: the context'\''s namespace). Cluster-scoped objects such as nodes and webhooks are always checked]:NS:_default' \
'--namespace=[Namespace to scan (default\: the context'\''s namespace). Cluster-scoped objects such as nodes and webhooks are always checked]:NS:_default' \
'-l+[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--selector=[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--page-size=[Objects per LIST page (0\: one LIST per kind from the API server'\''s watch cache). 2000, not kubectl'\''s 500\: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods\: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight]:N:_default' \
'(--context)*--from=[Analyze files instead of a live cluster\: a snapshot directory, \`kubectl get -o json|yaml\` output, multi-document YAML, a directory of such files (recursive) or a \`kubectl cluster-info dump --output-directory\` tree. Repeat to mix inputs]:PATH:_files' \
'*--only=[Run only these checks\: ids (pod.crash-loop), domains (pod, service) or categories (network, storage), comma-separated. See \`kaptain checks\`]:CHECKS:_default' \
'--min-severity=[Report findings at or above this severity (and the root causes they trace back to)]:LEVEL:_default' \
'-o+[Output format]:OUTPUT:(table json yaml markdown)' \
'--output=[Output format]:OUTPUT:(table json yaml markdown)' \
'--now=[Analyze as of this time (RFC 3339) instead of now (default for Kaptain snapshots\: their capture time)]:TIME:_default' \
'(-n --namespace)-A[Scan every namespace]' \
'(-n --namespace)--all-namespaces[Scan every namespace]' \
'(--context --from)--all-contexts[Scan every context of the kubeconfig, one report each]' \
'--explain[Add a short plain-language explanation of each root cause, written by the LLM set for the \`explain\` task from the finding'\''s evidence only (cached by fingerprint and model). The report itself is unchanged\: JSON/YAML get an \`explanation\` field per explained root cause, the table a section after it]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(ask)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'-l+[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--selector=[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--page-size=[Objects per LIST page (0\: one LIST per kind from the API server'\''s watch cache). 2000, not kubectl'\''s 500\: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods\: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight]:N:_default' \
'(--context)*--from=[Answer from files instead of a live cluster (as \`kaptain diagnose --from\`)]:PATH:_files' \
'-o+[Output format]:OUTPUT:(text json)' \
'--output=[Output format]:OUTPUT:(text json)' \
'--now=[Analyze as of this time (RFC 3339) instead of now]:TIME:_default' \
'--timeout=[How long to wait for the operator to execute and verify an applied request]:DURATION:_default' \
'--as-user=[Who asks (recorded on the HealingAction and its Events); default\: the kubeconfig context'\''s user]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace (its safety configuration, state and leader Lease)]:NS:_default' \
'-n+[Namespace to look at (default\: the one the question names, else every namespace). Cluster-scoped objects such as nodes are always checked]:NS:_default' \
'--namespace=[Namespace to look at (default\: the one the question names, else every namespace). Cluster-scoped objects such as nodes are always checked]:NS:_default' \
'--parse-only[Print how the question was read (the structured request, JSON) and stop\: no scan]' \
'(--dry-run)--apply[Apply a request to act without asking (scripts)\: create the HealingAction approved by you, wait for the operator to execute and verify it]' \
'--dry-run[Only try a request'\''s change on the server'\''s dry-run path (nothing is changed, no HealingAction is created)]' \
'(-n --namespace)-A[Every namespace (the default unless one is named)]' \
'(-n --namespace)--all-namespaces[Every namespace (the default unless one is named)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::question -- The question (quoting it is optional\: the words are joined):_default' \
&& ret=0
;;
(chat)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'-n+[Namespace to scan (default\: the context'\''s namespace). Cluster-scoped objects such as nodes and webhooks are always checked]:NS:_default' \
'--namespace=[Namespace to scan (default\: the context'\''s namespace). Cluster-scoped objects such as nodes and webhooks are always checked]:NS:_default' \
'-l+[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--selector=[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--page-size=[Objects per LIST page (0\: one LIST per kind from the API server'\''s watch cache). 2000, not kubectl'\''s 500\: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods\: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight]:N:_default' \
'(--context)*--from=[Chat about files instead of a live cluster (as \`kaptain diagnose --from\`)]:PATH:_files' \
'-o+[Output format\: text, or one JSON object per line and question (the investigator'\''s transcript, with every tool call, or the rule reader'\''s answer)]:OUTPUT:(text json)' \
'--output=[Output format\: text, or one JSON object per line and question (the investigator'\''s transcript, with every tool call, or the rule reader'\''s answer)]:OUTPUT:(text json)' \
'--now=[Analyze as of this time (RFC 3339) instead of now]:TIME:_default' \
'(-n --namespace)-A[Scan every namespace]' \
'(-n --namespace)--all-namespaces[Scan every namespace]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(snapshot)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'-n+[Namespace to scan (default\: the context'\''s namespace). Cluster-scoped objects such as nodes and webhooks are always checked]:NS:_default' \
'--namespace=[Namespace to scan (default\: the context'\''s namespace). Cluster-scoped objects such as nodes and webhooks are always checked]:NS:_default' \
'-l+[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--selector=[Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read]:SELECTOR:_default' \
'--page-size=[Objects per LIST page (0\: one LIST per kind from the API server'\''s watch cache). 2000, not kubectl'\''s 500\: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods\: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight]:N:_default' \
'-o+[Directory to write (created if missing)]:DIR:_files' \
'--output-dir=[Directory to write (created if missing)]:DIR:_files' \
'(-n --namespace)-A[Scan every namespace]' \
'(-n --namespace)--all-namespaces[Scan every namespace]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(checks)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:(table json markdown)' \
'--output=[Output format]:OUTPUT:(table json markdown)' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(operator)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config, then the in-cluster service account)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'-n+[The operator'\''s own namespace\: its Lease, state and configuration ConfigMaps, and the HealingActions of cluster-scoped targets]:NS:_default' \
'--namespace=[The operator'\''s own namespace\: its Lease, state and configuration ConfigMaps, and the HealingActions of cluster-scoped targets]:NS:_default' \
'*--watch-namespace=[Only watch and heal these namespaces (repeat the flag; default\: all namespaces). Cluster-scoped objects such as nodes are always watched]:NS:_default' \
'--metrics-addr=[Where to serve /metrics, /healthz and /readyz]:ADDR:_default' \
'--identity=[This replica'\''s name in the leader Lease (default\: \$POD_NAME or the host name, plus the process id)]:NAME:_default' \
'--config=[Safety configuration (YAML, the same keys as safety.yaml in the ConfigMap kaptain-operator-config); overrides the ConfigMap]:FILE:_files' \
'--log=[Log filter (tracing'\''s EnvFilter syntax; RUST_LOG overrides)]:FILTER:_default' \
'--log-format=[Log lines as text, or as one JSON object per line (every decision with the fields action, target, policy, decision, rule, phase, reason, finding)]:FORMAT:(text json)' \
'--read-secrets[Also watch Secrets (their values stay in the process). Off by default\: reading Secret values is opt-in in the RBAC too]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(heal)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace, where its safety configuration and state live]:NS:_default' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
":: :_kaptain__subcmd__heal_commands" \
"*::: :->heal" \
&& ret=0

    case $state in
    (heal)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-heal-command-$line[1]:"
        case $line[1] in
            (plan)
_arguments "${_arguments_options[@]}" : \
'-n+[Namespace to plan for (default\: the context'\''s namespace)]:NS:_default' \
'--namespace=[Namespace to plan for (default\: the context'\''s namespace)]:NS:_default' \
'--config=[Safety configuration file instead of the operator'\''s ConfigMap]:FILE:_files' \
'-o+[]:OUTPUT:(table json)' \
'--output=[]:OUTPUT:(table json)' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace, where its safety configuration and state live]:NS:_default' \
'(-n --namespace)-A[Plan for every namespace]' \
'(-n --namespace)--all-namespaces[Plan for every namespace]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
'-n+[Only this namespace (default\: all namespaces)]:NS:_default' \
'--namespace=[Only this namespace (default\: all namespaces)]:NS:_default' \
'--phase=[Only actions in this phase (Proposed, Approved, Executing, Verifying, Succeeded, Failed, RolledBack, Rejected)]:PHASE:_default' \
'--limit=[At most this many rows]:N:_default' \
'-o+[]:OUTPUT:(table json)' \
'--output=[]:OUTPUT:(table json)' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace, where its safety configuration and state live]:NS:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(approve)
_arguments "${_arguments_options[@]}" : \
'-n+[Its namespace (default\: found by name in any namespace)]:NS:_default' \
'--namespace=[Its namespace (default\: found by name in any namespace)]:NS:_default' \
'--as-user=[Who approves, as recorded on the action (default\: the kubeconfig user)]:USER:_default' \
'--config=[Safety configuration file instead of the operator'\''s ConfigMap]:FILE:_files' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace, where its safety configuration and state live]:NS:_default' \
'-h[Print help]' \
'--help[Print help]' \
':name -- The HealingAction'\''s name (see `kaptain heal list`):_default' \
&& ret=0
;;
(reject)
_arguments "${_arguments_options[@]}" : \
'-n+[Its namespace (default\: found by name in any namespace)]:NS:_default' \
'--namespace=[Its namespace (default\: found by name in any namespace)]:NS:_default' \
'--as-user=[Who rejects, as recorded on the action (default\: the kubeconfig user)]:USER:_default' \
'--reason=[Why, recorded on the action]:TEXT:_default' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace, where its safety configuration and state live]:NS:_default' \
'-h[Print help]' \
'--help[Print help]' \
':name -- The HealingAction'\''s name (see `kaptain heal list`):_default' \
&& ret=0
;;
(history)
_arguments "${_arguments_options[@]}" : \
'-n+[Only this namespace (default\: all namespaces)]:NS:_default' \
'--namespace=[Only this namespace (default\: all namespaces)]:NS:_default' \
'--phase=[Only actions in this phase (Proposed, Approved, Executing, Verifying, Succeeded, Failed, RolledBack, Rejected)]:PHASE:_default' \
'--limit=[At most this many rows]:N:_default' \
'-o+[]:OUTPUT:(table json)' \
'--output=[]:OUTPUT:(table json)' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[The kubeconfig context to use (default\: the current context)]:NAME:_default' \
'--operator-namespace=[The operator'\''s namespace, where its safety configuration and state live]:NS:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__heal__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-heal-help-command-$line[1]:"
        case $line[1] in
            (plan)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(approve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(reject)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(history)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(audit)
_arguments "${_arguments_options[@]}" : \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
":: :_kaptain__subcmd__audit_commands" \
"*::: :->audit" \
&& ret=0

    case $state in
    (audit)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-audit-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
'--database-url=[The server'\''s store\: sqlite\:///PATH or postgres\://USER@HOST/DB (default\: the server'\''s default SQLite file, \$XDG_DATA_HOME/kaptain/kaptain.db or ~/.local/share/kaptain/kaptain.db)]:URL:_default' \
'-o+[Output format]:OUTPUT:(table json)' \
'--output=[Output format]:OUTPUT:(table json)' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__audit__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-audit-help-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(serve)
_arguments "${_arguments_options[@]}" : \
'--listen=[Address to listen on]:ADDR:_default' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'*--context=[A kubeconfig context to watch (repeat for several; default\: the current context)]:NAME:_default' \
'--database-url=[The store\: sqlite\:///PATH or postgres\://USER@HOST/DB (default\: \$XDG_DATA_HOME/kaptain/kaptain.db or ~/.local/share/kaptain/kaptain.db)]:URL:_default' \
'--secret-key-file=[The key that encrypts secret settings (created 0600 if missing; KAPTAIN_SECRET_KEY overrides). Default\: secret.key next to the default SQLite file]:FILE:_files' \
'--oidc-issuer=[Trust JWTs from this OIDC issuer (needs --oidc-audience and --oidc-jwks-url)]:URL:_default' \
'--oidc-audience=[The audience (\`aud\`) the JWTs must carry]:AUD:_default' \
'--oidc-jwks-url=[Where the issuer publishes its signing keys]:URL:_default' \
'--oidc-role-claim=[The JWT claim that holds the role (viewer, operator, admin)]:CLAIM:_default' \
'--oidc-default-role=[The role of a JWT without the role claim (default\: refuse it)]:ROLE:_default' \
'--operator-namespace=[Namespace of the healing operator (its safety configuration applies to approvals)]:NS:_default' \
'--workers=[Diagnose runs executed at once]:N:_default' \
'--tls-cert=[Serve HTTPS with this PEM certificate chain (with --tls-key). The console'\''s cookie is then \`Secure\`, and responses carry HSTS]:FILE:_files' \
'--tls-key=[The PEM private key of --tls-cert]:FILE:_files' \
'--auth-throttle=[Failed authentications a client address may have per second, minute or hour before it is refused with 429 (and Retry-After) for the rest of the window\: N/s, N/m or N/h]:N/UNIT:_default' \
'--log=[Log filter (tracing'\''s EnvFilter syntax; RUST_LOG overrides)]:FILTER:_default' \
'--log-format=[Log lines as text, or as one JSON object per line]:FORMAT:(text json)' \
'(--context)--all-contexts[Watch every context of the kubeconfig]' \
'(--context --all-contexts)--in-cluster[Watch the cluster the server runs in (its service account)]' \
'--no-auth[Serve everyone as admin without credentials (only on a loopback --listen address)]' \
'--oidc-allow-http-jwks[Fetch the OIDC issuer'\''s JWKS over plain http (a local or test issuer). By default only https is accepted]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(mcp)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'*--context=[A kubeconfig context to watch (repeat for several; default\: the current context)]:NAME:_default' \
'--operator-namespace=[Where the healing operator keeps its safety configuration]:NS:_default' \
'--wait-ready=[How long to wait for the first analysis of each cluster before serving (seconds)]:SECS:_default' \
'--log=[Log filter for stderr (RUST_LOG overrides)]:FILTER:_default' \
'--analyze-ahead=[Analyze this far ahead of now (tests\: grace periods pass at once), e.g. 15m]:DURATION:_default' \
'(--context)--all-contexts[Watch every context of the kubeconfig]' \
'--read-only[Offer only the read-only tools (no propose_action)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(token)
_arguments "${_arguments_options[@]}" : \
'--database-url=[The server'\''s store (as for \`kaptain serve\`)]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
":: :_kaptain__subcmd__token_commands" \
"*::: :->token" \
&& ret=0

    case $state in
    (token)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-token-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
'--name=[A name people recognise]:NAME:_default' \
'--role=[viewer, operator or admin]:ROLE:_default' \
'*--scope=[Limit it to a cluster or cluster/namespace (repeatable; default\: everywhere)]:CLUSTER[/NS]:_default' \
'--expires-in=[Expire after this long (e.g. 12h, 30d)]:DURATION:_default' \
'--database-url=[The server'\''s store (as for \`kaptain serve\`)]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
'--database-url=[The server'\''s store (as for \`kaptain serve\`)]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(revoke)
_arguments "${_arguments_options[@]}" : \
'--database-url=[The server'\''s store (as for \`kaptain serve\`)]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
':id:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__token__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-token-help-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(revoke)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(llm)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_kaptain__subcmd__llm_commands" \
"*::: :->llm" \
&& ret=0

    case $state in
    (llm)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-llm-command-$line[1]:"
        case $line[1] in
            (test)
_arguments "${_arguments_options[@]}" : \
'--provider=[openai (any OpenAI-compatible server), anthropic, ollama, embedded]:NAME:_default' \
'--model=[The model name the provider knows]:NAME:_default' \
'--base-url=[The API'\''s base URL (e.g. http\://127.0.0.1\:8080/v1)]:URL:_default' \
'--config=[The config file (default\: \$XDG_CONFIG_HOME/kaptain/config.yaml, ~/.config/kaptain/config.yaml)]:PATH:_files' \
'--task=[The task whose route to check\: investigate or explain]:TASK:_default' \
'--timeout=[Seconds each call may take]:SECS:_default' \
'--json[JSON output]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__llm__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-llm-help-command-$line[1]:"
        case $line[1] in
            (test)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':shell -- The shell, or `man` for the roff man page:((bash\:""
zsh\:""
fish\:""
elvish\:""
powershell\:""
man\:"The man page (roff)"))' \
&& ret=0
;;
(parse-only)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'*::paths:_files' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-help-command-$line[1]:"
        case $line[1] in
            (diagnose)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ask)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(chat)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(snapshot)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(checks)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(operator)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(heal)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__help__subcmd__heal_commands" \
"*::: :->heal" \
&& ret=0

    case $state in
    (heal)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-help-heal-command-$line[1]:"
        case $line[1] in
            (plan)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(approve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(reject)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(history)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(audit)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__help__subcmd__audit_commands" \
"*::: :->audit" \
&& ret=0

    case $state in
    (audit)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-help-audit-command-$line[1]:"
        case $line[1] in
            (verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(serve)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(mcp)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(token)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__help__subcmd__token_commands" \
"*::: :->token" \
&& ret=0

    case $state in
    (token)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-help-token-command-$line[1]:"
        case $line[1] in
            (create)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(revoke)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(llm)
_arguments "${_arguments_options[@]}" : \
":: :_kaptain__subcmd__help__subcmd__llm_commands" \
"*::: :->llm" \
&& ret=0

    case $state in
    (llm)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kaptain-help-llm-command-$line[1]:"
        case $line[1] in
            (test)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(parse-only)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_kaptain_commands] )) ||
_kaptain_commands() {
    local commands; commands=(
'diagnose:Find what is broken and why, in a live cluster or in files' \
'ask:Ask in plain words\: what is wrong, why something fails, how to fix it' \
'chat:A conversation about a cluster\: questions and follow-ups, one per line of stdin' \
'snapshot:Capture what the checks need from a live cluster into files (Secret values redacted)' \
'checks:List every check\: id, category, default severity and what it finds' \
'operator:Run the healing operator\: watch, analyze, plan, guard, act, verify, roll back' \
'heal:Review and steer healing\: plan now, list, approve, reject, history' \
'audit:The server'\''s audit log\: check its hash chain' \
'serve:Serve the REST API and web console for one or more clusters' \
'mcp:Serve Kaptain'\''s tools to an MCP client (Claude Desktop, Cursor, ...) over stdio' \
'token:Manage the server'\''s API tokens (shown once, stored hashed)' \
'llm:The LLM settings\: \`kaptain llm test\` checks the connection and tool calling' \
'completions:Print shell completions (bash, zsh, fish, elvish, powershell) or the man page' \
'parse-only:Benchmark baseline\: parse the JSON files under PATHs with serde_json, nothing else' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__ask_commands] )) ||
_kaptain__subcmd__ask_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain ask commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__audit_commands] )) ||
_kaptain__subcmd__audit_commands() {
    local commands; commands=(
'verify:Check the audit log'\''s hash chain (exit 0 intact, 1 broken, 2 error)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain audit commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__audit__subcmd__help_commands] )) ||
_kaptain__subcmd__audit__subcmd__help_commands() {
    local commands; commands=(
'verify:Check the audit log'\''s hash chain (exit 0 intact, 1 broken, 2 error)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain audit help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__audit__subcmd__help__subcmd__help_commands] )) ||
_kaptain__subcmd__audit__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain audit help help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__audit__subcmd__help__subcmd__verify_commands] )) ||
_kaptain__subcmd__audit__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain audit help verify commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__audit__subcmd__verify_commands] )) ||
_kaptain__subcmd__audit__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain audit verify commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__chat_commands] )) ||
_kaptain__subcmd__chat_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain chat commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__checks_commands] )) ||
_kaptain__subcmd__checks_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain checks commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__completions_commands] )) ||
_kaptain__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain completions commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__diagnose_commands] )) ||
_kaptain__subcmd__diagnose_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain diagnose commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal_commands] )) ||
_kaptain__subcmd__heal_commands() {
    local commands; commands=(
'plan:What the healing policies would do now (dry-run\: nothing changes, no operator needed)' \
'list:HealingActions with phase, target, action and age' \
'approve:Approve a Proposed action (checked by the safety guard; fails naming the rule)' \
'reject:Reject a Proposed or Approved action' \
'history:Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain heal commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__approve_commands] )) ||
_kaptain__subcmd__heal__subcmd__approve_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal approve commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help_commands] )) ||
_kaptain__subcmd__heal__subcmd__help_commands() {
    local commands; commands=(
'plan:What the healing policies would do now (dry-run\: nothing changes, no operator needed)' \
'list:HealingActions with phase, target, action and age' \
'approve:Approve a Proposed action (checked by the safety guard; fails naming the rule)' \
'reject:Reject a Proposed or Approved action' \
'history:Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain heal help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help__subcmd__approve_commands] )) ||
_kaptain__subcmd__heal__subcmd__help__subcmd__approve_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal help approve commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help__subcmd__help_commands] )) ||
_kaptain__subcmd__heal__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal help help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help__subcmd__history_commands] )) ||
_kaptain__subcmd__heal__subcmd__help__subcmd__history_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal help history commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help__subcmd__list_commands] )) ||
_kaptain__subcmd__heal__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal help list commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help__subcmd__plan_commands] )) ||
_kaptain__subcmd__heal__subcmd__help__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal help plan commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__help__subcmd__reject_commands] )) ||
_kaptain__subcmd__heal__subcmd__help__subcmd__reject_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal help reject commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__history_commands] )) ||
_kaptain__subcmd__heal__subcmd__history_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal history commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__list_commands] )) ||
_kaptain__subcmd__heal__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal list commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__plan_commands] )) ||
_kaptain__subcmd__heal__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal plan commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__heal__subcmd__reject_commands] )) ||
_kaptain__subcmd__heal__subcmd__reject_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain heal reject commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help_commands] )) ||
_kaptain__subcmd__help_commands() {
    local commands; commands=(
'diagnose:Find what is broken and why, in a live cluster or in files' \
'ask:Ask in plain words\: what is wrong, why something fails, how to fix it' \
'chat:A conversation about a cluster\: questions and follow-ups, one per line of stdin' \
'snapshot:Capture what the checks need from a live cluster into files (Secret values redacted)' \
'checks:List every check\: id, category, default severity and what it finds' \
'operator:Run the healing operator\: watch, analyze, plan, guard, act, verify, roll back' \
'heal:Review and steer healing\: plan now, list, approve, reject, history' \
'audit:The server'\''s audit log\: check its hash chain' \
'serve:Serve the REST API and web console for one or more clusters' \
'mcp:Serve Kaptain'\''s tools to an MCP client (Claude Desktop, Cursor, ...) over stdio' \
'token:Manage the server'\''s API tokens (shown once, stored hashed)' \
'llm:The LLM settings\: \`kaptain llm test\` checks the connection and tool calling' \
'completions:Print shell completions (bash, zsh, fish, elvish, powershell) or the man page' \
'parse-only:Benchmark baseline\: parse the JSON files under PATHs with serde_json, nothing else' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__ask_commands] )) ||
_kaptain__subcmd__help__subcmd__ask_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help ask commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__audit_commands] )) ||
_kaptain__subcmd__help__subcmd__audit_commands() {
    local commands; commands=(
'verify:Check the audit log'\''s hash chain (exit 0 intact, 1 broken, 2 error)' \
    )
    _describe -t commands 'kaptain help audit commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__audit__subcmd__verify_commands] )) ||
_kaptain__subcmd__help__subcmd__audit__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help audit verify commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__chat_commands] )) ||
_kaptain__subcmd__help__subcmd__chat_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help chat commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__checks_commands] )) ||
_kaptain__subcmd__help__subcmd__checks_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help checks commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__completions_commands] )) ||
_kaptain__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help completions commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__diagnose_commands] )) ||
_kaptain__subcmd__help__subcmd__diagnose_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help diagnose commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__heal_commands] )) ||
_kaptain__subcmd__help__subcmd__heal_commands() {
    local commands; commands=(
'plan:What the healing policies would do now (dry-run\: nothing changes, no operator needed)' \
'list:HealingActions with phase, target, action and age' \
'approve:Approve a Proposed action (checked by the safety guard; fails naming the rule)' \
'reject:Reject a Proposed or Approved action' \
'history:Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first' \
    )
    _describe -t commands 'kaptain help heal commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__heal__subcmd__approve_commands] )) ||
_kaptain__subcmd__help__subcmd__heal__subcmd__approve_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help heal approve commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__heal__subcmd__history_commands] )) ||
_kaptain__subcmd__help__subcmd__heal__subcmd__history_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help heal history commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__heal__subcmd__list_commands] )) ||
_kaptain__subcmd__help__subcmd__heal__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help heal list commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__heal__subcmd__plan_commands] )) ||
_kaptain__subcmd__help__subcmd__heal__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help heal plan commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__heal__subcmd__reject_commands] )) ||
_kaptain__subcmd__help__subcmd__heal__subcmd__reject_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help heal reject commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__help_commands] )) ||
_kaptain__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__llm_commands] )) ||
_kaptain__subcmd__help__subcmd__llm_commands() {
    local commands; commands=(
'test:Check the LLM settings\: reachable, a completion, a tool call' \
    )
    _describe -t commands 'kaptain help llm commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__llm__subcmd__test_commands] )) ||
_kaptain__subcmd__help__subcmd__llm__subcmd__test_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help llm test commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__mcp_commands] )) ||
_kaptain__subcmd__help__subcmd__mcp_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help mcp commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__operator_commands] )) ||
_kaptain__subcmd__help__subcmd__operator_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help operator commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__parse-only_commands] )) ||
_kaptain__subcmd__help__subcmd__parse-only_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help parse-only commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__serve_commands] )) ||
_kaptain__subcmd__help__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help serve commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__snapshot_commands] )) ||
_kaptain__subcmd__help__subcmd__snapshot_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help snapshot commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__token_commands] )) ||
_kaptain__subcmd__help__subcmd__token_commands() {
    local commands; commands=(
'create:Create a token and print its secret (shown only this once)' \
'list:List tokens (never their secrets)' \
'revoke:Revoke a token by id' \
    )
    _describe -t commands 'kaptain help token commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__token__subcmd__create_commands] )) ||
_kaptain__subcmd__help__subcmd__token__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help token create commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__token__subcmd__list_commands] )) ||
_kaptain__subcmd__help__subcmd__token__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help token list commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__help__subcmd__token__subcmd__revoke_commands] )) ||
_kaptain__subcmd__help__subcmd__token__subcmd__revoke_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain help token revoke commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__llm_commands] )) ||
_kaptain__subcmd__llm_commands() {
    local commands; commands=(
'test:Check the LLM settings\: reachable, a completion, a tool call' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain llm commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__llm__subcmd__help_commands] )) ||
_kaptain__subcmd__llm__subcmd__help_commands() {
    local commands; commands=(
'test:Check the LLM settings\: reachable, a completion, a tool call' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain llm help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__llm__subcmd__help__subcmd__help_commands] )) ||
_kaptain__subcmd__llm__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain llm help help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__llm__subcmd__help__subcmd__test_commands] )) ||
_kaptain__subcmd__llm__subcmd__help__subcmd__test_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain llm help test commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__llm__subcmd__test_commands] )) ||
_kaptain__subcmd__llm__subcmd__test_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain llm test commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__mcp_commands] )) ||
_kaptain__subcmd__mcp_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain mcp commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__operator_commands] )) ||
_kaptain__subcmd__operator_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain operator commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__parse-only_commands] )) ||
_kaptain__subcmd__parse-only_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain parse-only commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__serve_commands] )) ||
_kaptain__subcmd__serve_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain serve commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__snapshot_commands] )) ||
_kaptain__subcmd__snapshot_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain snapshot commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token_commands] )) ||
_kaptain__subcmd__token_commands() {
    local commands; commands=(
'create:Create a token and print its secret (shown only this once)' \
'list:List tokens (never their secrets)' \
'revoke:Revoke a token by id' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain token commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__create_commands] )) ||
_kaptain__subcmd__token__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token create commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__help_commands] )) ||
_kaptain__subcmd__token__subcmd__help_commands() {
    local commands; commands=(
'create:Create a token and print its secret (shown only this once)' \
'list:List tokens (never their secrets)' \
'revoke:Revoke a token by id' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kaptain token help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__help__subcmd__create_commands] )) ||
_kaptain__subcmd__token__subcmd__help__subcmd__create_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token help create commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__help__subcmd__help_commands] )) ||
_kaptain__subcmd__token__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token help help commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__help__subcmd__list_commands] )) ||
_kaptain__subcmd__token__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token help list commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__help__subcmd__revoke_commands] )) ||
_kaptain__subcmd__token__subcmd__help__subcmd__revoke_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token help revoke commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__list_commands] )) ||
_kaptain__subcmd__token__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token list commands' commands "$@"
}
(( $+functions[_kaptain__subcmd__token__subcmd__revoke_commands] )) ||
_kaptain__subcmd__token__subcmd__revoke_commands() {
    local commands; commands=()
    _describe -t commands 'kaptain token revoke commands' commands "$@"
}

if [ "$funcstack[1]" = "_kaptain" ]; then
    _kaptain "$@"
else
    compdef _kaptain kaptain
fi
