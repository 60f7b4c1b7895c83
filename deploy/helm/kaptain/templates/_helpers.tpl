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
