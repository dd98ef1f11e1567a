{{/* The release's objects are named for it, and for the chart if the release name does not say kelisim. */}}
{{- define "kelisim.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The gateway's pods, and only they: not the migration Job's. */}}
{{- define "kelisim.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* The labels every object of the release carries; each adds its component. */}}
{{- define "kelisim.commonLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kelisim.labels" -}}
{{ include "kelisim.commonLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* latest is pulled every time, so that every node and the Job run one build. */}}
{{- define "kelisim.pullPolicy" -}}
{{- .Values.image.pullPolicy | default (ternary "Always" "IfNotPresent" (and (eq .Values.image.tag "latest") (not .Values.image.digest))) -}}
{{- end -}}

{{- define "kelisim.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* An environment variable from a key of the gateway's Secret. */}}
{{- define "kelisim.secretEnv" -}}
- name: {{ .name }}
  valueFrom: {secretKeyRef: {name: {{ .secret | quote }}, key: {{ .key | quote }}}}
{{- end -}}

{{/* The database's environment: all that migrate needs. */}}
{{- define "kelisim.databaseEnv" -}}
{{ include "kelisim.secretEnv" (dict "name" "KELISIM_DATABASE_URL" "secret" .Values.secrets.name "key" .Values.secrets.keys.databaseURL) }}
{{- with .Values.secrets.keys.databaseDirectURL }}
{{ include "kelisim.secretEnv" (dict "name" "KELISIM_DATABASE_DIRECT_URL" "secret" $.Values.secrets.name "key" .) }}
{{- end }}
{{- end -}}

{{- define "kelisim.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
automountServiceAccountToken: false
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}
