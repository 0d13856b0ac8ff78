{{/* Labels of every namespaced object: the same as `winkube manifests install`'s. */}}
{{- define "winkube.labels" -}}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/name: winkube
app.kubernetes.io/part-of: winkube
{{- end }}

{{- define "winkube.selectorLabels" -}}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/name: winkube
{{- end }}

{{/* The release namespace, which must be a DNS label (as --namespace is checked). */}}
{{- define "winkube.namespace" -}}
{{- $ns := .Release.Namespace -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" $ns) -}}
{{- fail (printf "namespace %q is not a valid namespace name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)" $ns) -}}
{{- end -}}
{{- $ns -}}
{{- end }}

{{- define "winkube.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default (printf "v%s" .Chart.AppVersion)) -}}
{{- end }}

{{/* metadata.annotations of the webhook configurations when cert-manager injects the CA. */}}
{{- define "winkube.caInjection" -}}
{{- if eq .Values.certificates.mode "cert-manager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ include "winkube.namespace" . }}/winkube
{{- end }}
{{- end }}

{{/* The namespaces no winkube webhook sees: kube-system, winkube's own, opted-out ones. */}}
{{- define "winkube.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
    - kube-system
    - {{ include "winkube.namespace" . }}
  - key: windows.k8s.io/disabled
    operator: NotIn
    values:
    - "true"
{{- end }}
