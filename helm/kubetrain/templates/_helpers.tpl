{{/* Names, labels and the watched namespaces, used by every template. */}}

{{- define "kubetrain.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubetrain.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "kubetrain.labels" -}}
{{ include "kubetrain.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubetrain.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubetrain.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespaces watched in namespaced mode: the listed ones, or the release namespace. */}}
{{- define "kubetrain.watchedNamespaces" -}}
{{- if .Values.watch.namespaces -}}
{{- toJson (uniq .Values.watch.namespaces) -}}
{{- else -}}
{{- toJson (list .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{/* The operator configuration file (kubetrain.config.OperatorConfig), from the values. */}}
{{- define "kubetrain.config" -}}
{{- $store := dict "uri" .Values.artifactStore.uri "region" .Values.artifactStore.region "credentialsSecret" .Values.artifactStore.credentialsSecret "accessKeyIdKey" .Values.artifactStore.accessKeyIdKey "secretAccessKeyKey" .Values.artifactStore.secretAccessKeyKey "endpoint" (.Values.artifactStore.endpoint | default nil) -}}
{{- $config := dict "trainerImage" .Values.trainer.image "imagePullPolicy" .Values.trainer.imagePullPolicy "profiles" .Values.profiles "defaultProfile" .Values.defaultProfile "artifactStore" $store "gangTimeoutSeconds" .Values.timings.gangTimeoutSeconds "progressIntervalSeconds" .Values.timings.progressIntervalSeconds "terminationGraceSeconds" .Values.timings.terminationGraceSeconds "rayPort" .Values.rayPort "jobNetworkPolicy" .Values.networkPolicy.enabled -}}
{{- toYaml $config -}}
{{- end -}}

{{/* What the operator does to jobs and their children in a watched namespace. */}}
{{- define "kubetrain.jobRules" -}}
- apiGroups: [kubetrain.io]
  resources: [trainingjobs]
  verbs: [get, list, watch, delete]
- apiGroups: [kubetrain.io]
  resources: [trainingjobs/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, create, deletecollection]
- apiGroups: [""]
  resources: [services]
  verbs: [create, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, get]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [create]
- apiGroups: [kueue.x-k8s.io]
  resources: [workloads]
  verbs: [get]
{{- end -}}
