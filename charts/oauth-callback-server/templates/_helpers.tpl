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
{{- $auth := .Values.redis.external.auth }}
{{- if ne $auth "password" }}
{{- if .Values.redis.enabled }}
{{- fail (printf "oauth-callback-server: redis.external.auth=%s signs in to an external Redis (a cloud's managed cache): set redis.enabled=false and redis.external.url, clusterAddrs or sentinelAddrs." $auth) }}
{{- end }}
{{- if not $hasRedis }}
{{- fail (printf "oauth-callback-server: redis.external.auth=%s needs an external Redis: set redis.external.url (rediss://…) or clusterAddrs." $auth) }}
{{- end }}
{{- if .Values.redis.password.existingSecret }}
{{- fail (printf "oauth-callback-server: redis.external.auth=%s uses the identity's tokens as the password: remove redis.password.existingSecret." $auth) }}
{{- end }}
{{- end }}
{{- /* As the service decides (internal/config checkAWSSignIn,
checkGCPSignIn): a URL must be rediss:// (tls.enabled does not make a
redis:// URL TLS); without a URL, tls.enabled. A URL in existingSecret is
the service's to refuse at start. */}}
{{- $tlsFor := dict "aws" "ElastiCache and MemoryDB take IAM tokens over TLS only" "gcp" "its Google access token is good for every Google API the service account may call" }}
{{- if hasKey $tlsFor $auth }}
{{- if and $e.url (not (hasPrefix "rediss://" $e.url)) }}
{{- fail (printf "oauth-callback-server: redis.external.auth=%s needs TLS (%s): use a rediss:// URL; redis.external.tls.enabled does not make a redis:// URL TLS." $auth (get $tlsFor $auth)) }}
{{- end }}
{{- if not (or $e.url $e.existingSecret $e.tls.enabled) }}
{{- fail (printf "oauth-callback-server: redis.external.auth=%s needs TLS (%s): a rediss:// URL, or redis.external.tls.enabled=true with clusterAddrs or sentinelAddrs." $auth (get $tlsFor $auth)) }}
{{- end }}
{{- end }}
{{- if eq $auth "aws" }}
{{- if not (and $e.username $e.aws.cacheName) }}
{{- fail "oauth-callback-server: redis.external.auth=aws needs redis.external.username (the IAM-enabled user) and redis.external.aws.cacheName (the replication group, serverless cache or MemoryDB cluster)." }}
{{- end }}
{{- end }}
{{- if not .Values.serviceAccount.create }}
{{- $dropped := list }}
{{- if and .Values.azureWorkloadIdentity.enabled (or .Values.azureWorkloadIdentity.clientId .Values.azureWorkloadIdentity.tenantId) }}{{ $dropped = append $dropped "azureWorkloadIdentity.clientId/tenantId" }}{{ end }}
{{- if .Values.awsIRSA.roleArn }}{{ $dropped = append $dropped "awsIRSA.roleArn" }}{{ end }}
{{- if .Values.gkeWorkloadIdentity.serviceAccount }}{{ $dropped = append $dropped "gkeWorkloadIdentity.serviceAccount" }}{{ end }}
{{- with $dropped }}
{{- fail (printf "oauth-callback-server: %s is an annotation on the chart's ServiceAccount, but serviceAccount.create=false: the chart makes none, and the pods would run without that identity. Set serviceAccount.create=true, or annotate your own ServiceAccount (serviceAccount.name) and leave %s empty." (join ", " .) (join ", " .)) }}
{{- end }}
{{- end }}
{{- if and .Values.azureWorkloadIdentity.enabled .Values.serviceAccount.create (not .Values.azureWorkloadIdentity.clientId) }}
{{- fail "oauth-callback-server: azureWorkloadIdentity.enabled needs azureWorkloadIdentity.clientId, the client id of the identity federated with this chart's ServiceAccount." }}
{{- end }}
{{- if and .Values.redis.external.url .Values.redis.external.existingSecret }}
{{- fail "oauth-callback-server: set redis.external.url or redis.external.existingSecret, not both." }}
{{- end }}
{{- $budget := include "oauth-callback-server.bytes" .Values.store.maxMemory | int64 }}
{{- if or (lt $budget 1048576) (gt $budget 68719476736) }}
{{- fail (printf "oauth-callback-server: store.maxMemory (%s) must be between 1Mi and 64Gi (OAUTH_CALLBACK_MAX_MEMORY's range)." (toString .Values.store.maxMemory)) }}
{{- end }}
{{- $callbackBytes := include "oauth-callback-server.bytes" .Values.store.maxCallbackBytes | int64 }}
{{- if or (lt $callbackBytes 1024) (gt $callbackBytes 262144) }}
{{- fail (printf "oauth-callback-server: store.maxCallbackBytes (%s) must be between 1Ki and 256Ki (OAUTH_CALLBACK_MAX_CALLBACK_BYTES's range)." (toString .Values.store.maxCallbackBytes)) }}
{{- end }}
{{- if and (not (gt (int .Values.capacity.maxWaiters) 0)) (not (dig "limits" "memory" "" .Values.resources)) }}
{{- fail "oauth-callback-server: resources.limits.memory is required unless capacity.maxWaiters is set: the service derives the long-polls a replica holds from it." }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $maxmemory := include "oauth-callback-server.redisMaxmemory" . | int64 }}
{{- /* The sizing rule, callback.MinMaxmemory in the service (budget × 3 ÷ 2);
deploy/test holds the two to the same numbers. */}}
{{- if gt (div (mul $budget 3) 2) $maxmemory }}
{{- fail (printf "oauth-callback-server: store.maxMemory (%s) needs a bundled Redis maxmemory of at least 1.5 times as much (allocator rounding, keys, tombstones); it is %d bytes (%d%% of redis.resources.limits.memory %s). Raise the Redis memory limit or lower store.maxMemory." (toString .Values.store.maxMemory) $maxmemory (int .Values.redis.maxmemoryPercent) (toString .Values.redis.resources.limits.memory)) }}
{{- end }}
{{- end }}
{{- $needed := add .Values.shutdown.preStopSleepSeconds .Values.shutdown.drainDelaySeconds .Values.shutdown.timeoutSeconds }}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "oauth-callback-server: terminationGracePeriodSeconds (%d) must be longer than shutdown.preStopSleepSeconds + drainDelaySeconds + timeoutSeconds (%d), or pods are killed mid-drain." (int .Values.terminationGracePeriodSeconds) (int $needed)) }}
{{- end }}
{{- end }}

{{/*
A Kubernetes memory quantity (256Mi, 1Gi, 500M, or bytes) in bytes.
*/}}
{{- define "oauth-callback-server.bytes" -}}
{{- $q := toString . }}
{{- $n := regexFind "^[0-9]+" $q }}
{{- $unit := trimPrefix $n $q }}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "k" 1000 "M" 1000000 "G" 1000000000 }}
{{- if or (not $n) (not (hasKey $units $unit)) }}
{{- fail (printf "oauth-callback-server: %q is not a memory quantity like 256Mi" $q) }}
{{- end }}
{{- mul (atoi $n) (get $units $unit) }}
{{- end }}

{{/*
The bundled Redis's maxmemory: redis.maxmemoryPercent of its container's
memory limit, so that Redis refuses writes (noeviction: a 503 "try again in
a minute") before the kernel kills it and every pending sign-in with it.
*/}}
{{- define "oauth-callback-server.redisMaxmemory" -}}
{{- $limit := include "oauth-callback-server.bytes" (required "redis.resources.limits.memory is required: maxmemory is computed from it" .Values.redis.resources.limits.memory) | int64 }}
{{- div (mul $limit (int .Values.redis.maxmemoryPercent)) 100 }}
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

{{/*
The service's environment: the ConfigMap, the existing Secret and the
variables the values make. The Deployment's container and the helm test
that runs `oauth-callback-server check` share it, so that the check reads
the configuration the service runs with. Called with (dict "root" .
"container" <the container's name>).
*/}}
{{- define "oauth-callback-server.environment" -}}
{{- $root := .root }}
{{- $container := .container }}
envFrom:
  - configMapRef:
      name: {{ include "oauth-callback-server.fullname" $root }}
  {{- with $root.Values.existingSecret }}
  - secretRef:
      name: {{ . }}
  {{- end }}
env:
  # The runtime's soft limit, the long-polls a replica holds and the
  # refusal of new ones near the limit follow the pod's real limit,
  # whatever set it.
  - name: OAUTH_CALLBACK_MEMORY_LIMIT
    valueFrom:
      resourceFieldRef:
        containerName: {{ $container }}
        resource: limits.memory
  {{- with $root.Values.capacity.maxWaiters }}
  # Unset, the service derives it from OAUTH_CALLBACK_MEMORY_LIMIT.
  - name: OAUTH_CALLBACK_MAX_WAITERS
    value: {{ int64 . | toString | quote }}
  {{- end }}
  - name: OAUTH_CALLBACK_MAX_MEMORY
    value: {{ include "oauth-callback-server.bytes" $root.Values.store.maxMemory | quote }}
  - name: OAUTH_CALLBACK_MAX_CALLBACK_BYTES
    value: {{ include "oauth-callback-server.bytes" $root.Values.store.maxCallbackBytes | quote }}
  {{- with $root.Values.publicURL }}
  # Sign-in links start here (with OAUTH_CALLBACK_AUTHORIZE_HOSTS
  # in config and the encryption key in existingSecret).
  - name: OAUTH_CALLBACK_PUBLIC_URL
    value: {{ trimSuffix "/" . | quote }}
  {{- end }}
  {{- if $root.Values.metrics.port }}
  - name: OAUTH_CALLBACK_METRICS_ADDR
    value: ":{{ $root.Values.metrics.port }}"
  {{- end }}
  {{- if $root.Values.redis.enabled }}
  - name: OAUTH_CALLBACK_REDIS_URL
    value: "redis://{{ include "oauth-callback-server.redisName" $root }}:6379/0"
  {{- else if $root.Values.redis.external.url }}
  - name: OAUTH_CALLBACK_REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "oauth-callback-server.fullname" $root }}
        key: redis-url
  {{- else if $root.Values.redis.external.existingSecret }}
  - name: OAUTH_CALLBACK_REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ $root.Values.redis.external.existingSecret }}
        key: {{ $root.Values.redis.external.existingSecretKey }}
  {{- end }}
  {{- with $root.Values.redis.external }}
  {{- if .sentinelAddrs }}
  - name: OAUTH_CALLBACK_REDIS_SENTINEL_ADDRS
    value: {{ join "," .sentinelAddrs | quote }}
  - name: OAUTH_CALLBACK_REDIS_SENTINEL_MASTER
    value: {{ .sentinelMaster | quote }}
  {{- end }}
  {{- if .clusterAddrs }}
  - name: OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS
    value: {{ join "," .clusterAddrs | quote }}
  {{- end }}
  {{- if .username }}
  - name: OAUTH_CALLBACK_REDIS_USERNAME
    value: {{ .username | quote }}
  {{- end }}
  {{- if .tls.enabled }}
  - name: OAUTH_CALLBACK_REDIS_TLS
    value: "true"
  {{- end }}
  {{- if .tls.existingSecret }}
  - name: OAUTH_CALLBACK_REDIS_TLS_CA_FILE
    value: /etc/oauth-callback-server/redis-tls/ca.crt
  {{- if .tls.clientCertificate }}
  - name: OAUTH_CALLBACK_REDIS_TLS_CERT_FILE
    value: /etc/oauth-callback-server/redis-tls/tls.crt
  - name: OAUTH_CALLBACK_REDIS_TLS_KEY_FILE
    value: /etc/oauth-callback-server/redis-tls/tls.key
  {{- end }}
  {{- end }}
  {{- end }}
  {{- if ne $root.Values.redis.external.auth "password" }}
  - name: OAUTH_CALLBACK_REDIS_AUTH
    value: {{ $root.Values.redis.external.auth }}
  {{- with $root.Values.redis.external.aws }}
  {{- if eq $root.Values.redis.external.auth "aws" }}
  - name: OAUTH_CALLBACK_REDIS_AWS_SERVICE
    value: {{ .service }}
  - name: OAUTH_CALLBACK_REDIS_AWS_CACHE_NAME
    value: {{ .cacheName }}
  {{- with .region }}
  - name: AWS_REGION
    value: {{ . }}
  {{- end }}
  {{- /* A pod without IRSA or Pod Identity (the container endpoint, not
  IMDS) must find no credentials rather than sign in as the node's
  instance role. */}}
  - name: AWS_EC2_METADATA_DISABLED
    value: "true"
  {{- end }}
  {{- end }}
  {{- else if and (or $root.Values.redis.enabled $root.Values.redis.password.existingSecret) $root.Values.redis.password.asFile }}
  - name: OAUTH_CALLBACK_REDIS_PASSWORD_FILE
    value: /etc/oauth-callback-server/redis-password/{{ $root.Values.redis.password.existingSecretKey }}
  {{- else if or $root.Values.redis.enabled $root.Values.redis.password.existingSecret }}
  - name: OAUTH_CALLBACK_REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "oauth-callback-server.redisPasswordSecret" $root }}
        key: {{ $root.Values.redis.password.existingSecretKey }}
  {{- end }}
  {{- if include "oauth-callback-server.appsSecret" $root }}
  - name: OAUTH_CALLBACK_APPS_FILE
    value: /etc/oauth-callback-server/apps/{{ include "oauth-callback-server.appsKey" $root }}
  {{- end }}
  {{- with $root.Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
The Secret and key of the apps file: the operator's (apps.existingSecret),
or the chart's when it generates a token; empty: no apps file.
*/}}
{{- define "oauth-callback-server.appsSecret" -}}
{{- if and .Values.apps.existingSecret .Values.apps.generateToken.enabled }}
{{- fail "oauth-callback-server: apps.generateToken makes the apps file: give apps.existingSecret, or generate a token, not both." }}
{{- end }}
{{- if .Values.apps.existingSecret }}{{ .Values.apps.existingSecret }}
{{- else if .Values.apps.generateToken.enabled }}{{ include "oauth-callback-server.fullname" . }}-apps
{{- end }}
{{- end }}

{{- define "oauth-callback-server.appsKey" -}}
{{- if .Values.apps.existingSecret }}{{ .Values.apps.existingSecretKey }}{{ else }}apps.yaml{{ end }}
{{- end }}

{{/*
The files the service reads, for the Deployment's container and the check
pod alike: the Redis TLS Secret, and the Redis password when it is
mounted as a file (redis.password.asFile).
*/}}
{{- define "oauth-callback-server.passwordAsFile" -}}
{{- if and (or .Values.redis.enabled .Values.redis.password.existingSecret) .Values.redis.password.asFile (eq .Values.redis.external.auth "password") }}true{{ end }}
{{- end }}

{{- define "oauth-callback-server.volumeMounts" -}}
{{- if or .Values.redis.external.tls.existingSecret (include "oauth-callback-server.passwordAsFile" .) (include "oauth-callback-server.appsSecret" .) }}
volumeMounts:
  {{- if .Values.redis.external.tls.existingSecret }}
  - name: redis-tls
    mountPath: /etc/oauth-callback-server/redis-tls
    readOnly: true
  {{- end }}
  {{- if include "oauth-callback-server.passwordAsFile" . }}
  - name: redis-password
    mountPath: /etc/oauth-callback-server/redis-password
    readOnly: true
  {{- end }}
  {{- if include "oauth-callback-server.appsSecret" . }}
  - name: apps
    mountPath: /etc/oauth-callback-server/apps
    readOnly: true
  {{- end }}
{{- end }}
{{- end }}

{{- define "oauth-callback-server.volumes" -}}
{{- if or .Values.redis.external.tls.existingSecret (include "oauth-callback-server.passwordAsFile" .) (include "oauth-callback-server.appsSecret" .) }}
volumes:
  {{- with .Values.redis.external.tls.existingSecret }}
  - name: redis-tls
    secret:
      secretName: {{ . }}
  {{- end }}
  {{- if include "oauth-callback-server.passwordAsFile" . }}
  - name: redis-password
    secret:
      secretName: {{ include "oauth-callback-server.redisPasswordSecret" . }}
      items:
        - key: {{ .Values.redis.password.existingSecretKey }}
          path: {{ .Values.redis.password.existingSecretKey }}
  {{- end }}
  {{- with include "oauth-callback-server.appsSecret" . }}
  - name: apps
    secret:
      secretName: {{ . }}
      items:
        - key: {{ include "oauth-callback-server.appsKey" $ }}
          path: {{ include "oauth-callback-server.appsKey" $ }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
Pod labels AKS workload identity needs (azureWorkloadIdentity.enabled).
*/}}
{{- define "oauth-callback-server.identityLabels" -}}
{{- if .Values.azureWorkloadIdentity.enabled }}
azure.workload.identity/use: "true"
{{- end }}
{{- end }}
