# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kaptain_global_optspecs
    string join \n h/help V/version
end

function __fish_kaptain_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kaptain_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kaptain_using_subcommand
    set -l cmd (__fish_kaptain_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kaptain -n "__fish_kaptain_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_needs_command" -s V -l version -d 'Print version'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "diagnose" -d 'Find what is broken and why, in a live cluster or in files'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "ask" -d 'Ask in plain words: what is wrong, why something fails, how to fix it'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "chat" -d 'A conversation about a cluster: questions and follow-ups, one per line of stdin'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "snapshot" -d 'Capture what the checks need from a live cluster into files (Secret values redacted)'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "checks" -d 'List every check: id, category, default severity and what it finds'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "operator" -d 'Run the healing operator: watch, analyze, plan, guard, act, verify, roll back'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "heal" -d 'Review and steer healing: plan now, list, approve, reject, history'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "audit" -d 'The server\'s audit log: check its hash chain'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "serve" -d 'Serve the REST API and web console for one or more clusters'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "mcp" -d 'Serve Kaptain\'s tools to an MCP client (Claude Desktop, Cursor, ...) over stdio'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "token" -d 'Manage the server\'s API tokens (shown once, stored hashed)'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "llm" -d 'The LLM settings: `kaptain llm test` checks the connection and tool calling'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell) or the man page'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "parse-only" -d 'Benchmark baseline: parse the JSON files under PATHs with serde_json, nothing else'
complete -c kaptain -n "__fish_kaptain_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -s n -l namespace -d 'Namespace to scan (default: the context\'s namespace). Cluster-scoped objects such as nodes and webhooks are always checked' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -s l -l selector -d 'Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l page-size -d 'Objects per LIST page (0: one LIST per kind from the API server\'s watch cache). 2000, not kubectl\'s 500: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l from -d 'Analyze files instead of a live cluster: a snapshot directory, `kubectl get -o json|yaml` output, multi-document YAML, a directory of such files (recursive) or a `kubectl cluster-info dump --output-directory` tree. Repeat to mix inputs' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l only -d 'Run only these checks: ids (pod.crash-loop), domains (pod, service) or categories (network, storage), comma-separated. See `kaptain checks`' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l min-severity -d 'Report findings at or above this severity (and the root causes they trace back to)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''
yaml\t''
markdown\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l now -d 'Analyze as of this time (RFC 3339) instead of now (default for Kaptain snapshots: their capture time)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -s A -l all-namespaces -d 'Scan every namespace'
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l all-contexts -d 'Scan every context of the kubeconfig, one report each'
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -l explain -d 'Add a short plain-language explanation of each root cause, written by the LLM set for the `explain` task from the finding\'s evidence only (cached by fingerprint and model). The report itself is unchanged: JSON/YAML get an `explanation` field per explained root cause, the table a section after it'
complete -c kaptain -n "__fish_kaptain_using_subcommand diagnose" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -s l -l selector -d 'Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l page-size -d 'Objects per LIST page (0: one LIST per kind from the API server\'s watch cache). 2000, not kubectl\'s 500: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l from -d 'Answer from files instead of a live cluster (as `kaptain diagnose --from`)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -s o -l output -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l now -d 'Analyze as of this time (RFC 3339) instead of now' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l timeout -d 'How long to wait for the operator to execute and verify an applied request' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l as-user -d 'Who asks (recorded on the HealingAction and its Events); default: the kubeconfig context\'s user' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l operator-namespace -d 'The operator\'s namespace (its safety configuration, state and leader Lease)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -s n -l namespace -d 'Namespace to look at (default: the one the question names, else every namespace). Cluster-scoped objects such as nodes are always checked' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l parse-only -d 'Print how the question was read (the structured request, JSON) and stop: no scan'
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l apply -d 'Apply a request to act without asking (scripts): create the HealingAction approved by you, wait for the operator to execute and verify it'
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -l dry-run -d 'Only try a request\'s change on the server\'s dry-run path (nothing is changed, no HealingAction is created)'
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -s A -l all-namespaces -d 'Every namespace (the default unless one is named)'
complete -c kaptain -n "__fish_kaptain_using_subcommand ask" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -s n -l namespace -d 'Namespace to scan (default: the context\'s namespace). Cluster-scoped objects such as nodes and webhooks are always checked' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -s l -l selector -d 'Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -l page-size -d 'Objects per LIST page (0: one LIST per kind from the API server\'s watch cache). 2000, not kubectl\'s 500: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -l from -d 'Chat about files instead of a live cluster (as `kaptain diagnose --from`)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -s o -l output -d 'Output format: text, or one JSON object per line and question (the investigator\'s transcript, with every tool call, or the rule reader\'s answer)' -r -f -a "text\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -l now -d 'Analyze as of this time (RFC 3339) instead of now' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -s A -l all-namespaces -d 'Scan every namespace'
complete -c kaptain -n "__fish_kaptain_using_subcommand chat" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -s n -l namespace -d 'Namespace to scan (default: the context\'s namespace). Cluster-scoped objects such as nodes and webhooks are always checked' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -s l -l selector -d 'Only workloads, pods, Services, Ingresses, PVCs, HPAs and PDBs matching this label selector (e.g. app=shop,tier!=cache). Objects they reference are always read' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -l page-size -d 'Objects per LIST page (0: one LIST per kind from the API server\'s watch cache). 2000, not kubectl\'s 500: etcd counts the rest of the range for every page, so fewer pages cost it much less (measured on 10,000 pods: 2.3 s of etcd CPU at 500, 0.9 s at 2000), for a few MB more per page in flight' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -s o -l output-dir -d 'Directory to write (created if missing)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -s A -l all-namespaces -d 'Scan every namespace'
complete -c kaptain -n "__fish_kaptain_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand checks" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''
markdown\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand checks" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -s n -l namespace -d 'The operator\'s own namespace: its Lease, state and configuration ConfigMaps, and the HealingActions of cluster-scoped targets' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l watch-namespace -d 'Only watch and heal these namespaces (repeat the flag; default: all namespaces). Cluster-scoped objects such as nodes are always watched' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l metrics-addr -d 'Where to serve /metrics, /healthz and /readyz' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l identity -d 'This replica\'s name in the leader Lease (default: $POD_NAME or the host name, plus the process id)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l config -d 'Safety configuration (YAML, the same keys as safety.yaml in the ConfigMap kaptain-operator-config); overrides the ConfigMap' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l log -d 'Log filter (tracing\'s EnvFilter syntax; RUST_LOG overrides)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l log-format -d 'Log lines as text, or as one JSON object per line (every decision with the fields action, target, policy, decision, rule, phase, reason, finding)' -r -f -a "text\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -l read-secrets -d 'Also watch Secrets (their values stay in the process). Off by default: reading Secret values is opt-in in the RBAC too'
complete -c kaptain -n "__fish_kaptain_using_subcommand operator" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -l operator-namespace -d 'The operator\'s namespace, where its safety configuration and state live' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -f -a "plan" -d 'What the healing policies would do now (dry-run: nothing changes, no operator needed)'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -f -a "list" -d 'HealingActions with phase, target, action and age'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -f -a "approve" -d 'Approve a Proposed action (checked by the safety guard; fails naming the rule)'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -f -a "reject" -d 'Reject a Proposed or Approved action'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -f -a "history" -d 'Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and not __fish_seen_subcommand_from plan list approve reject history help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -s n -l namespace -d 'Namespace to plan for (default: the context\'s namespace)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -l config -d 'Safety configuration file instead of the operator\'s ConfigMap' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -s o -l output -r -f -a "table\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -l operator-namespace -d 'The operator\'s namespace, where its safety configuration and state live' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -s A -l all-namespaces -d 'Plan for every namespace'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -s n -l namespace -d 'Only this namespace (default: all namespaces)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -l phase -d 'Only actions in this phase (Proposed, Approved, Executing, Verifying, Succeeded, Failed, RolledBack, Rejected)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -l limit -d 'At most this many rows' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -s o -l output -r -f -a "table\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -l operator-namespace -d 'The operator\'s namespace, where its safety configuration and state live' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -s n -l namespace -d 'Its namespace (default: found by name in any namespace)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -l as-user -d 'Who approves, as recorded on the action (default: the kubeconfig user)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -l config -d 'Safety configuration file instead of the operator\'s ConfigMap' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -l operator-namespace -d 'The operator\'s namespace, where its safety configuration and state live' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -s n -l namespace -d 'Its namespace (default: found by name in any namespace)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -l as-user -d 'Who rejects, as recorded on the action (default: the kubeconfig user)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -l reason -d 'Why, recorded on the action' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -l operator-namespace -d 'The operator\'s namespace, where its safety configuration and state live' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from reject" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -s n -l namespace -d 'Only this namespace (default: all namespaces)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -l phase -d 'Only actions in this phase (Proposed, Approved, Executing, Verifying, Succeeded, Failed, RolledBack, Rejected)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -l limit -d 'At most this many rows' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -s o -l output -r -f -a "table\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -l context -d 'The kubeconfig context to use (default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -l operator-namespace -d 'The operator\'s namespace, where its safety configuration and state live' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from history" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from help" -f -a "plan" -d 'What the healing policies would do now (dry-run: nothing changes, no operator needed)'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from help" -f -a "list" -d 'HealingActions with phase, target, action and age'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve a Proposed action (checked by the safety guard; fails naming the rule)'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from help" -f -a "reject" -d 'Reject a Proposed or Approved action'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from help" -f -a "history" -d 'Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first'
complete -c kaptain -n "__fish_kaptain_using_subcommand heal; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -f -a "verify" -d 'Check the audit log\'s hash chain (exit 0 intact, 1 broken, 2 error)'
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and __fish_seen_subcommand_from verify" -l database-url -d 'The server\'s store: sqlite:///PATH or postgres://USER@HOST/DB (default: the server\'s default SQLite file, $XDG_DATA_HOME/kaptain/kaptain.db or ~/.local/share/kaptain/kaptain.db)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format' -r -f -a "table\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check the audit log\'s hash chain (exit 0 intact, 1 broken, 2 error)'
complete -c kaptain -n "__fish_kaptain_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l listen -d 'Address to listen on' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l context -d 'A kubeconfig context to watch (repeat for several; default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l database-url -d 'The store: sqlite:///PATH or postgres://USER@HOST/DB (default: $XDG_DATA_HOME/kaptain/kaptain.db or ~/.local/share/kaptain/kaptain.db)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l secret-key-file -d 'The key that encrypts secret settings (created 0600 if missing; KAPTAIN_SECRET_KEY overrides). Default: secret.key next to the default SQLite file' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l oidc-issuer -d 'Trust JWTs from this OIDC issuer (needs --oidc-audience and --oidc-jwks-url)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l oidc-audience -d 'The audience (`aud`) the JWTs must carry' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l oidc-jwks-url -d 'Where the issuer publishes its signing keys' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l oidc-role-claim -d 'The JWT claim that holds the role (viewer, operator, admin)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l oidc-default-role -d 'The role of a JWT without the role claim (default: refuse it)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l operator-namespace -d 'Namespace of the healing operator (its safety configuration applies to approvals)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l workers -d 'Diagnose runs executed at once' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l tls-cert -d 'Serve HTTPS with this PEM certificate chain (with --tls-key). The console\'s cookie is then `Secure`, and responses carry HSTS' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l tls-key -d 'The PEM private key of --tls-cert' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l auth-throttle -d 'Failed authentications a client address may have per second, minute or hour before it is refused with 429 (and Retry-After) for the rest of the window: N/s, N/m or N/h' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l log -d 'Log filter (tracing\'s EnvFilter syntax; RUST_LOG overrides)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l log-format -d 'Log lines as text, or as one JSON object per line' -r -f -a "text\t''
json\t''"
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l all-contexts -d 'Watch every context of the kubeconfig'
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l in-cluster -d 'Watch the cluster the server runs in (its service account)'
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l no-auth -d 'Serve everyone as admin without credentials (only on a loopback --listen address)'
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -l oidc-allow-http-jwks -d 'Fetch the OIDC issuer\'s JWKS over plain http (a local or test issuer). By default only https is accepted'
complete -c kaptain -n "__fish_kaptain_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l context -d 'A kubeconfig context to watch (repeat for several; default: the current context)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l operator-namespace -d 'Where the healing operator keeps its safety configuration' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l wait-ready -d 'How long to wait for the first analysis of each cluster before serving (seconds)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l log -d 'Log filter for stderr (RUST_LOG overrides)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l analyze-ahead -d 'Analyze this far ahead of now (tests: grace periods pass at once), e.g. 15m' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l all-contexts -d 'Watch every context of the kubeconfig'
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -l read-only -d 'Offer only the read-only tools (no propose_action)'
complete -c kaptain -n "__fish_kaptain_using_subcommand mcp" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -l database-url -d 'The server\'s store (as for `kaptain serve`)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "create" -d 'Create a token and print its secret (shown only this once)'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "list" -d 'List tokens (never their secrets)'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "revoke" -d 'Revoke a token by id'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and not __fish_seen_subcommand_from create list revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from create" -l name -d 'A name people recognise' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from create" -l role -d 'viewer, operator or admin' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from create" -l scope -d 'Limit it to a cluster or cluster/namespace (repeatable; default: everywhere)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from create" -l expires-in -d 'Expire after this long (e.g. 12h, 30d)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from create" -l database-url -d 'The server\'s store (as for `kaptain serve`)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from list" -l database-url -d 'The server\'s store (as for `kaptain serve`)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from revoke" -l database-url -d 'The server\'s store (as for `kaptain serve`)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a token and print its secret (shown only this once)'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "list" -d 'List tokens (never their secrets)'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a token by id'
complete -c kaptain -n "__fish_kaptain_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and not __fish_seen_subcommand_from test help" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and not __fish_seen_subcommand_from test help" -f -a "test" -d 'Check the LLM settings: reachable, a completion, a tool call'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and not __fish_seen_subcommand_from test help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l provider -d 'openai (any OpenAI-compatible server), anthropic, ollama, embedded' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l model -d 'The model name the provider knows' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l base-url -d 'The API\'s base URL (e.g. http://127.0.0.1:8080/v1)' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l config -d 'The config file (default: $XDG_CONFIG_HOME/kaptain/config.yaml, ~/.config/kaptain/config.yaml)' -r -F
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l task -d 'The task whose route to check: investigate or explain' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l timeout -d 'Seconds each call may take' -r
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -l json -d 'JSON output'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from help" -f -a "test" -d 'Check the LLM settings: reachable, a completion, a tool call'
complete -c kaptain -n "__fish_kaptain_using_subcommand llm; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kaptain -n "__fish_kaptain_using_subcommand parse-only" -s h -l help -d 'Print help'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "diagnose" -d 'Find what is broken and why, in a live cluster or in files'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "ask" -d 'Ask in plain words: what is wrong, why something fails, how to fix it'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "chat" -d 'A conversation about a cluster: questions and follow-ups, one per line of stdin'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "snapshot" -d 'Capture what the checks need from a live cluster into files (Secret values redacted)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "checks" -d 'List every check: id, category, default severity and what it finds'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "operator" -d 'Run the healing operator: watch, analyze, plan, guard, act, verify, roll back'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "heal" -d 'Review and steer healing: plan now, list, approve, reject, history'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "audit" -d 'The server\'s audit log: check its hash chain'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "serve" -d 'Serve the REST API and web console for one or more clusters'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "mcp" -d 'Serve Kaptain\'s tools to an MCP client (Claude Desktop, Cursor, ...) over stdio'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "token" -d 'Manage the server\'s API tokens (shown once, stored hashed)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "llm" -d 'The LLM settings: `kaptain llm test` checks the connection and tool calling'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell) or the man page'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "parse-only" -d 'Benchmark baseline: parse the JSON files under PATHs with serde_json, nothing else'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and not __fish_seen_subcommand_from diagnose ask chat snapshot checks operator heal audit serve mcp token llm completions parse-only help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from heal" -f -a "plan" -d 'What the healing policies would do now (dry-run: nothing changes, no operator needed)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from heal" -f -a "list" -d 'HealingActions with phase, target, action and age'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from heal" -f -a "approve" -d 'Approve a Proposed action (checked by the safety guard; fails naming the rule)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from heal" -f -a "reject" -d 'Reject a Proposed or Approved action'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from heal" -f -a "history" -d 'Finished actions (Succeeded, RolledBack, Failed, Rejected), newest first'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check the audit log\'s hash chain (exit 0 intact, 1 broken, 2 error)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "create" -d 'Create a token and print its secret (shown only this once)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "list" -d 'List tokens (never their secrets)'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke a token by id'
complete -c kaptain -n "__fish_kaptain_using_subcommand help; and __fish_seen_subcommand_from llm" -f -a "test" -d 'Check the LLM settings: reachable, a completion, a tool call'
