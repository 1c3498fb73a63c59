{{/* Names and labels, after the usual Helm scaffold. */}}
{{- define "auth-sidecar.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "auth-sidecar.fullname" -}}
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

{{- define "auth-sidecar.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "auth-sidecar.selectorLabels" -}}
app.kubernetes.io/name: {{ include "auth-sidecar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "auth-sidecar.labels" -}}
helm.sh/chart: {{ include "auth-sidecar.chart" . }}
{{ include "auth-sidecar.selectorLabels" . }}
app.kubernetes.io/component: authentication-proxy
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "auth-sidecar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "auth-sidecar.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "auth-sidecar.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret holding the sidecar's secrets: the chart's own, or the existing one. */}}
{{- define "auth-sidecar.secretName" -}}
{{- default (include "auth-sidecar.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/*
The upstream, by topology. Both an in-pod app and an upstreamUrl is a mistake: fail loudly.
Empty means forward-auth mode (no upstream, only /.auth/* is served).
*/}}
{{- define "auth-sidecar.upstream" -}}
{{- if and .Values.app.enabled .Values.upstreamUrl -}}
{{- fail "set either app.enabled (sidecar in the pod) or upstreamUrl (standalone), not both" -}}
{{- else if .Values.app.enabled -}}
{{- printf "http://127.0.0.1:%d" (int .Values.app.port) -}}
{{- else -}}
{{- .Values.upstreamUrl -}}
{{- end -}}
{{- end -}}

{{- define "auth-sidecar.mode" -}}
{{- if .Values.app.enabled -}}sidecar{{- else if .Values.upstreamUrl -}}standalone{{- else if .Values.routes -}}gateway{{- else -}}forward-auth{{- end -}}
{{- end -}}

{{/* Where the secret files are mounted; the env names are the contract's SIDECAR_*_FILE. */}}
{{- define "auth-sidecar.secretDir" -}}/etc/auth-sidecar/secrets{{- end -}}
{{- define "auth-sidecar.configPath" -}}/etc/auth-sidecar/config.yaml{{- end -}}

{{/*
The configuration file: the `config` values (the contract's keys) plus what the chart owns:
the listeners (from `ports`) and the upstream (from the topology). No secret is ever in here.
*/}}
{{- define "auth-sidecar.configFile" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $_ := set $cfg "listen" (printf "0.0.0.0:%d" (int .Values.ports.http)) -}}
{{- $_ := set $cfg "admin_listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) -}}
{{- if .Values.routes -}}
{{- /* The route table: each route names its upstream; never mixed with the shorthand. */ -}}
{{- if .Values.upstreamUrl -}}
{{- fail "set either routes (each names its upstream) or upstreamUrl, not both" -}}
{{- end -}}
{{- if $cfg.assertion.audience -}}
{{- fail "with routes, set each route's assertion.audience instead of config.assertion.audience" -}}
{{- end -}}
{{- $_ := set $cfg "routes" .Values.routes -}}
{{- $_ := unset $cfg "policy" -}}
{{- else -}}
{{- $upstream := include "auth-sidecar.upstream" . -}}
{{- if $upstream -}}
{{- $_ := set $cfg "upstream" $upstream -}}
{{- end -}}
{{- end -}}
{{- /* Empty optional strings mean "the sidecar's default": leave them out of the file. */ -}}
{{- if not $cfg.oidc.audiences -}}{{- $_ := unset $cfg.oidc "audiences" -}}{{- end -}}
{{- if not $cfg.session.redis_url -}}{{- $_ := unset $cfg.session "redis_url" -}}{{- end -}}
{{- if not $cfg.assertion.audience -}}{{- $_ := unset $cfg.assertion "audience" -}}{{- end -}}
{{- if not $cfg.trusted_proxies -}}{{- $_ := unset $cfg "trusted_proxies" -}}{{- end -}}
{{ toYaml $cfg }}
{{- end -}}

{{/* Every key the sidecar reads from the Secret, as name -> {env, key, file}. */}}
{{- define "auth-sidecar.secretFiles" -}}
{{- $files := dict -}}
{{- $_ := set $files "client-secret" (dict "env" "SIDECAR_OIDC_CLIENT_SECRET_FILE" "key" .Values.secretKeys.clientSecret) -}}
{{- $_ := set $files "session-secret" (dict "env" "SIDECAR_SESSION_SECRET_FILE" "key" .Values.secretKeys.sessionSecret) -}}
{{- if include "auth-sidecar.hasAssertionKey" . -}}
{{- $_ := set $files "assertion-signing-key" (dict "env" "SIDECAR_ASSERTION_SIGNING_KEY_FILE" "key" .Values.secretKeys.assertionSigningKey) -}}
{{- end -}}
{{- with include "auth-sidecar.adminTokenKey" . -}}
{{- $_ := set $files "admin-token" (dict "env" "SIDECAR_ADMIN_TOKEN_FILE" "key" .) -}}
{{- end -}}
{{ toJson $files }}
{{- end -}}

{{/* Non-empty when an assertion signing key is provided (chart Secret or existing Secret). */}}
{{- define "auth-sidecar.hasAssertionKey" -}}
{{- if .Values.existingSecret -}}
{{- if .Values.secretKeys.assertionSigningKey -}}true{{- end -}}
{{- else if .Values.secrets.assertionSigningKey -}}true{{- end -}}
{{- end -}}

{{/* The key of admin.token in the Secret, or empty when session administration is off. */}}
{{- define "auth-sidecar.adminTokenKey" -}}
{{- if .Values.existingSecret -}}
{{- .Values.secretKeys.adminToken -}}
{{- else if .Values.secrets.adminToken -}}
{{- default "admin-token" .Values.secretKeys.adminToken -}}
{{- end -}}
{{- end -}}

{{/* The key of the Redis URL in the Secret, or empty when the URL is not a secret. */}}
{{- define "auth-sidecar.redisUrlKey" -}}
{{- if .Values.existingSecret -}}
{{- .Values.secretKeys.redisUrl -}}
{{- else if .Values.secrets.redisUrl -}}
{{- default "redis-url" .Values.secretKeys.redisUrl -}}
{{- end -}}
{{- end -}}

{{- define "auth-sidecar.verifyUrl" -}}
{{- printf "http://%s.%s.svc:%d/.auth/verify" (include "auth-sidecar.fullname" .) .Release.Namespace (int .Values.service.port) -}}
{{- end -}}

{{/* Non-empty when a CA bundle for outgoing TLS is configured (caBundle). */}}
{{- define "auth-sidecar.caBundle" -}}
{{- if and (or .Values.caBundle.secretName .Values.caBundle.configMapName) (not (and .Values.caBundle.secretName .Values.caBundle.configMapName)) -}}
true
{{- else if and .Values.caBundle.secretName .Values.caBundle.configMapName -}}
{{- fail "caBundle: set secretName or configMapName, not both" -}}
{{- end -}}
{{- end }}
