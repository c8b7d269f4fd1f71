{{/*
Expand the name of the chart.
*/}}
{{- define "oauth-callback-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name (63 characters at most, the DNS
name limit).
*/}}
{{- define "oauth-callback-server.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the chart label.
*/}}
{{- define "oauth-callback-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "oauth-callback-server.labels" -}}
helm.sh/chart: {{ include "oauth-callback-server.chart" . }}
{{ include "oauth-callback-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels.
*/}}
{{- define "oauth-callback-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oauth-callback-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount name.
*/}}
{{- define "oauth-callback-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oauth-callback-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The bundled Redis: name and selector labels.
*/}}
{{- define "oauth-callback-server.redisName" -}}
{{- printf "%s-redis" (include "oauth-callback-server.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oauth-callback-server.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "oauth-callback-server.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The Secret holding the Redis password: the operator's, or the generated one.
*/}}
{{- define "oauth-callback-server.redisPasswordSecret" -}}
{{- default (include "oauth-callback-server.redisName" .) .Values.redis.password.existingSecret }}
{{- end }}

{{/*
Whether the service has a Redis at all.
*/}}
{{- define "oauth-callback-server.hasRedis" -}}
{{- $e := .Values.redis.external }}
{{- if or .Values.redis.enabled $e.url $e.existingSecret $e.sentinelAddrs $e.clusterAddrs }}true{{ end }}
{{- end }}

{{/*
Refuse configurations that cannot work. Included by the Deployment.
*/}}
{{- define "oauth-callback-server.validate" -}}
{{- $hasRedis := include "oauth-callback-server.hasRedis" . }}
{{- if and (not $hasRedis) (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "oauth-callback-server: more than one replica (replicaCount > 1 or autoscaling.enabled) needs Redis: the in-memory store serves one replica only. Set redis.enabled=true, or redis.external.url / redis.external.existingSecret, or replicaCount=1." }}
{{- end }}
{{- $e := .Values.redis.external }}
{{- if and $e.sentinelAddrs (not $e.sentinelMaster) }}
{{- fail "oauth-callback-server: redis.external.sentinelAddrs needs redis.external.sentinelMaster (the primary's name)." }}
{{- end }}
{{- $kinds := 0 }}
{{- range (list (or $e.url $e.existingSecret) $e.sentinelAddrs $e.clusterAddrs) }}{{ if . }}{{ $kinds = add1 $kinds }}{{ end }}{{ end }}
{{- if gt $kinds 1 }}
{{- fail "oauth-callback-server: choose one of redis.external.url/existingSecret, sentinelAddrs or clusterAddrs." }}
{{- end }}
{{- if and .Values.redis.enabled (or $e.url $e.existingSecret $e.sentinelAddrs $e.clusterAddrs) }}
{{- fail "oauth-callback-server: set either redis.enabled (bundled Redis) or redis.external.*, not both." }}
{{- end }}
{{- if and .Values.redis.external.url .Values.redis.external.existingSecret }}
{{- fail "oauth-callback-server: set redis.external.url or redis.external.existingSecret, not both." }}
{{- end }}
{{- $needed := add .Values.shutdown.preStopSleepSeconds .Values.shutdown.drainDelaySeconds .Values.shutdown.timeoutSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "oauth-callback-server: terminationGracePeriodSeconds (%d) must be longer than shutdown.preStopSleepSeconds + drainDelaySeconds + timeoutSeconds (%d), or pods are killed mid-drain." (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- end }}

{{/*
The public base URL, for the notes.
*/}}
{{- define "oauth-callback-server.publicURL" -}}
{{- if .Values.publicURL }}
{{- trimSuffix "/" .Values.publicURL }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (first .Values.ingress.hosts) }}
{{- else }}
{{- print "https://<your public host>" }}
{{- end }}
{{- end }}
