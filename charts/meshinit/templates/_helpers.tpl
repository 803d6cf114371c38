{{/*
Labels of every top-level object: the ones manifests/ puts there, then the three Helm conventions
(helm.sh/chart, app.kubernetes.io/managed-by, app.kubernetes.io/instance). The comparison with the
kustomize sets (test/e2e/helm-chart.test.ts) drops exactly those three, and checks their values.
*/}}
{{- define "meshinit.labels" -}}
app.kubernetes.io/name: meshinit
app.kubernetes.io/part-of: meshinit
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* The controller's component: also in its selector, so it never changes on an upgrade. */}}
{{- define "meshinit.component" -}}
{{- if eq .Values.mode "webhook" }}webhook{{ else }}controller{{ end }}
{{- end }}

{{- define "meshinit.selectorLabels" -}}
app.kubernetes.io/name: meshinit
app.kubernetes.io/component: {{ include "meshinit.component" . }}
{{- end }}

{{/*
Refuses combinations that cannot work, with the reason, before anything reaches the server.
*/}}
{{- define "meshinit.validate" -}}
{{- if and .Values.initializer.jobPods (ne .Values.mode "initializer") }}
{{- fail "initializer.jobPods needs mode=initializer: the webhook mode injects Pods anyway" }}
{{- end }}
{{- if and .Values.initializer.jobPods (lt (int .Values.replicas) 2) }}
{{- fail "initializer.jobPods needs replicas >= 2: every Pod, meshinit's own included, waits for a running meshinit, so a lone replica that restarts can never be released (manifests/README.md, cold start)" }}
{{- end }}
{{- if and .Values.initializer.jobPods .Release.IsInstall }}
{{- fail "initializer.jobPods is refused on a first install: from the moment the Pods InitializerConfiguration exists every Pod, meshinit's own included, waits for a running meshinit, so its first Pods would never start. Install without it, wait for `kubectl -n <namespace> rollout status deployment/meshinit`, then `helm upgrade --reuse-values --set initializer.jobPods=true` (with `helm template`, add --is-upgrade)" }}
{{- end }}
{{- end }}
