{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "kaptain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name: the release name, with the chart name added unless the
release name already contains it (`helm install kaptain ...` gives plain `kaptain`).
*/}}
{{- define "kaptain.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The operator's name: Deployment, Service, PDB, ClusterRole.
*/}}
{{- define "kaptain.operatorName" -}}
{{- printf "%s-operator" (include "kaptain.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kaptain.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels on every object. `kaptain.dev/protected` keeps the operator from ever acting on its
own objects.
*/}}
{{- define "kaptain.labels" -}}
helm.sh/chart: {{ include "kaptain.chart" . }}
{{ include "kaptain.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kaptain
kaptain.dev/protected: "true"
{{- end -}}

{{/*
Labels the Deployment selects its pods by (never change them on upgrade).
*/}}
{{- define "kaptain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kaptain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kaptain.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kaptain.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kaptain.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
`kaptain serve` (values.serve): its name (Deployment, Service, ServiceAccount, RBAC), labels and
selector labels (component `server`, so the operator's selectors never match its pods).
*/}}
{{- define "kaptain.serverName" -}}
{{- printf "%s-server" (include "kaptain.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kaptain.serverSelectorLabels" -}}
app.kubernetes.io/name: {{ include "kaptain.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "kaptain.serverLabels" -}}
helm.sh/chart: {{ include "kaptain.chart" . }}
{{ include "kaptain.serverSelectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kaptain
kaptain.dev/protected: "true"
{{- end -}}

{{- define "kaptain.serverServiceAccountName" -}}
{{- if .Values.serve.serviceAccount.create -}}
{{- default (include "kaptain.serverName" .) .Values.serve.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serve.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The server's store: `postgres` when serve.database.existingSecret names the Secret holding
its URL, else `sqlite` (a file on the PVC).
*/}}
{{- define "kaptain.serverStore" -}}
{{- if .Values.serve.database.existingSecret -}}postgres{{- else -}}sqlite{{- end -}}
{{- end -}}

{{/*
Values that cannot work together: the render fails with what to change.
*/}}
{{- define "kaptain.serverValidate" -}}
{{- $store := include "kaptain.serverStore" . -}}
{{- if and (eq $store "sqlite") (gt (int .Values.serve.replicaCount) 1) -}}
{{- fail (printf "serve.replicaCount=%d needs PostgreSQL (serve.database.existingSecret): the SQLite file on one ReadWriteOnce PVC cannot be shared by several replicas; use 1 replica with SQLite" (int .Values.serve.replicaCount)) -}}
{{- end -}}
{{- if and (eq $store "sqlite") (not .Values.serve.persistence.enabled) -}}
{{- fail "serve needs a store: serve.persistence.enabled=true (SQLite on a PVC) or serve.database.existingSecret (a Secret holding a postgres:// URL)" -}}
{{- end -}}
{{- if and (eq $store "postgres") (not .Values.serve.secretKey.existingSecret) -}}
{{- fail "serve.database.existingSecret (PostgreSQL) needs serve.secretKey.existingSecret: the key that encrypts secret settings must live in a Secret (every replica needs the same key; there is no volume to keep a key file on)" -}}
{{- end -}}
{{- with .Values.serve.oidc -}}
{{- if and (or .issuer .audience .jwksUrl) (not (and .issuer .audience .jwksUrl)) -}}
{{- fail "serve.oidc needs issuer, audience and jwksUrl together" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.serve.ingress.enabled .Values.serve.ingress.tlsSecretName (not .Values.serve.ingress.host) -}}
{{- fail "serve.ingress.tlsSecretName needs serve.ingress.host (the name the certificate is for)" -}}
{{- end -}}
{{- end -}}
