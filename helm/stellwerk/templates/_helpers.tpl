{{/* Names and labels. */}}
{{- define "stellwerk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "stellwerk.fullname" -}}
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

{{- define "stellwerk.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "stellwerk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stellwerk
{{- end -}}

{{/* Selector labels of one component: include "stellwerk.selector" (list . "router") */}}
{{- define "stellwerk.selector" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "stellwerk.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "stellwerk.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "stellwerk.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "stellwerk.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "stellwerk.sasl" -}}
{{- hasPrefix "SASL_" .Values.kafka.securityProtocol -}}
{{- end -}}

{{- define "stellwerk.tls" -}}
{{- has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}
{{- end -}}

{{/* Partitions of one entry of topics.list. */}}
{{- define "stellwerk.topicPartitions" -}}
{{- $ := index . 0 -}}{{- $t := index . 1 -}}
{{- if eq (toString $t.partitions) "inbound" -}}{{ int $.Values.topics.partitions }}{{- else -}}{{ int $t.partitions }}{{- end -}}
{{- end -}}

{{/*
Checks the schema cannot express (they compare values): called by every Deployment.
A router beyond the inbound topics' partitions gets no partition, is never ready and
only adds rebalances; the grace period must exceed the bounded stop (9 s).
*/}}
{{- define "stellwerk.validate" -}}
{{- $p := int .Values.topics.partitions -}}
{{- $a := .Values.autoscaling -}}
{{- if eq $a.mode "none" -}}
{{- if gt (int .Values.router.replicaCount) $p -}}
{{- fail (printf "router.replicaCount (%d) exceeds topics.partitions (%d): routers beyond the partitions of the inbound topics stay idle" (int .Values.router.replicaCount) $p) -}}
{{- end -}}
{{- else -}}
{{- if gt (int $a.maxReplicas) $p -}}
{{- fail (printf "autoscaling.maxReplicas (%d) exceeds topics.partitions (%d): routers beyond the partitions of the inbound topics stay idle" (int $a.maxReplicas) $p) -}}
{{- end -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- fail (printf "autoscaling.minReplicas (%d) exceeds autoscaling.maxReplicas (%d)" (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- if and (eq $a.mode "keda") (gt (int $a.keda.fallbackReplicas) (int $a.maxReplicas)) -}}
{{- fail "autoscaling.keda.fallbackReplicas exceeds autoscaling.maxReplicas" -}}
{{- end -}}
{{- end -}}
{{- if le (int .Values.router.terminationGracePeriodSeconds) 9 -}}
{{- fail "router.terminationGracePeriodSeconds must exceed the router's bounded stop time (9 s)" -}}
{{- end -}}
{{- if and (eq (include "stellwerk.sasl" .) "true") (not .Values.kafka.sasl.passwordSecret.name) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.passwordSecret.name" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if and (eq (include "stellwerk.tls" .) "true") (not .Values.kafka.tls.secretName) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.tls.secretName (the brokers' CA)" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if and .Values.ingestPop3.enabled (not .Values.ingestPop3.passwordSecret.name) -}}
{{- fail "ingestPop3.enabled needs ingestPop3.passwordSecret.name" -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by every Stellwerk container: secrets only, the rest is in the ConfigMap. */}}
{{- define "stellwerk.env" -}}
{{- if eq (include "stellwerk.sasl" .) "true" }}
- name: STELLWERK_KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.sasl.username | quote }}
- name: STELLWERK_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.sasl.passwordSecret.name }}
      key: {{ .Values.kafka.sasl.passwordSecret.key }}
{{- end }}
{{- end -}}

{{- define "stellwerk.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "stellwerk.fullname" . }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 256Mi
{{- if eq (include "stellwerk.tls" .) "true" }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "stellwerk.commonMounts" -}}
- name: config
  mountPath: /etc/stellwerk/config
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if eq (include "stellwerk.tls" .) "true" }}
- name: kafka-tls
  mountPath: /etc/stellwerk/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "stellwerk.podSecurity" -}}
automountServiceAccountToken: false
serviceAccountName: {{ include "stellwerk.serviceAccountName" . }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "stellwerk.httpProbe" -}}
{{- $path := index . 0 -}}{{- $port := index . 1 -}}
httpGet:
  path: {{ $path }}
  port: {{ $port }}
{{- end -}}

{{/* Egress every Stellwerk pod needs: DNS and the Kafka brokers. */}}
{{- define "stellwerk.egressBase" -}}
{{- $n := .Values.networkPolicy -}}
# DNS
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $n.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml $n.dns.podLabels | nindent 10 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
# Kafka brokers
- ports:
    {{- range $n.kafka.ports }}
    - {protocol: TCP, port: {{ int . }}}
    {{- end }}
  {{- with $n.kafka.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
