#!/bin/bash
# Every object of every rendered deploy/k8s overlay (`kubectl kustomize`) is
# validated offline against the Kubernetes schema with kubernetes-models
# (tools/k8s_schema/validate.mjs; KEDA and prometheus-operator models for the
# CRDs), unknown field names included. Negative controls, so that a validator
# that checks nothing fails: the rendered cpu overlay with its containers key
# misspelt, with its worker's health port made a string, and with
# readinessProbe misspelt, must each be reported, and so must a
# hand-written broken manifest (an unknown kind among them).
#
# Needs kubectl (machine image) and node with the npm packages that
# tools/setup.sh installs into tools/k8s_schema/node_modules: a missing one
# is a failure, not a skip.
#
# Usage: k8s_schema_test.sh VALIDATE_MJS K8S_FILE...
set -uo pipefail
source "$(dirname "$0")/lib.sh"

readonly VALIDATE="$(abs "$1")"
shift
K8S=()
for f in "$@"; do K8S+=("$(abs "$f")"); done
((${#K8S[@]} > 0)) || die "no deploy/k8s files given"
command -v kubectl >/dev/null || die "kubectl is missing (the machine image provides kubectl 1.32)"
command -v node >/dev/null || die "node is missing: run tools/setup.sh"
readonly TMP="${TEST_TMPDIR:?}/k8sschema"
rm -rf "${TMP}" && mkdir -p "${TMP}"
export HOME="${TMP}"

# validate FILE...: the validator's output in ${TMP}/out; its exit status.
validate() { node "${VALIDATE}" "$@" >"${TMP}/out" 2>&1; }

# --- 1. every overlay renders and every object is valid ---------------------
rendered=()
while read -r name result; do
  [[ "${result}" == ok ]] ||
    die "overlay ${name}: kubectl kustomize failed: $(cat "${TMP}/k8s-${name}.err")"
  rendered+=("${TMP}/k8s-${name}.yaml")
done < <(render_overlays "${TMP}" "${K8S[@]}")
((${#rendered[@]} >= 3)) || die "rendered ${#rendered[@]} overlays, want cpu, gpu and cpu-external-db-hpa-tls"
objects=$(cat "${rendered[@]}" | grep -c '^kind:')
validate "${rendered[@]}"
status=$?
((status == 0)) || die "the rendered overlays are not valid (exit ${status}):
$(cat "${TMP}/out")"
grep -qx "${objects} valid, 0 invalid (.*)" "${TMP}/out" ||
  die "want all ${objects} rendered objects validated, got: $(tail -n 1 "${TMP}/out")"
log "${#rendered[@]} overlays: $(tail -n 1 "${TMP}/out")"

# --- 2. negative controls ----------------------------------------------------
# The real cpu overlay with the containers key misspelt, then with the
# worker's health port made a string.
sed -e 's/^      containers:/      containerz:/' "${TMP}/k8s-cpu.yaml" >"${TMP}/broken-cpu.yaml"
cmp -s "${TMP}/k8s-cpu.yaml" "${TMP}/broken-cpu.yaml" && die "the sed mutation changed nothing"
validate "${TMP}/broken-cpu.yaml" && die "a broken cpu overlay passed validation: $(cat "${TMP}/out")"
grep -q 'INVALID .*Deployment/nas-worker .*must have required property containers' "${TMP}/out" ||
  die "missing containers not reported: $(cat "${TMP}/out")"

sed -e 's/containerPort: 9466/containerPort: health/' "${TMP}/k8s-cpu.yaml" >"${TMP}/broken-port.yaml"
validate "${TMP}/broken-port.yaml" && die "a string containerPort passed validation: $(cat "${TMP}/out")"
grep -q 'INVALID .*Deployment/nas-worker .*containerPort must be integer' "${TMP}/out" ||
  die "string containerPort not reported: $(cat "${TMP}/out")"

# ... and with a misspelt optional field (the models' schemas alone accept
# unknown fields; tools/k8s_schema/fields.mjs must catch it).
sed -e 's/readinessProbe:/readinesProbe:/' "${TMP}/k8s-cpu.yaml" >"${TMP}/broken-field.yaml"
validate "${TMP}/broken-field.yaml" && die "a misspelt field passed validation: $(cat "${TMP}/out")"
grep -q 'INVALID .*Deployment/nas-worker .*unknown field(s) spec.template.spec.containers\[0\].readinesProbe' "${TMP}/out" ||
  die "misspelt readinessProbe not reported: $(cat "${TMP}/out")"

cat >"${TMP}/broken.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: string-replicas}
spec:
  replicas: two
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: i}]}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: no-target}
spec:
  triggers: [{metadata: {}}]
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: bad-endpoints}
spec:
  selector: {}
  endpoints: all
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: misspelt}
spec:
  selector: {matchLabels: {a: b}}
  podMetricsEndpoints: [{port: metrics, intervall: 15s}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: unknown-kind}
---
apiVersion: v1
kind: Service
metadata: {name: fine}
spec: {ports: [{port: 80}]}
YAML
validate "${TMP}/broken.yaml" && die "a broken manifest passed validation: $(cat "${TMP}/out")"
for want in 'Deployment/string-replicas .*replicas must be integer' \
  'ScaledObject/no-target .*required property scaleTargetRef' \
  'ServiceMonitor/bad-endpoints .*endpoints must be array' \
  'PodMonitor/misspelt .*unknown field(s) spec.podMetricsEndpoints\[0\].intervall' \
  'Widget/unknown-kind .*no schema'; do
  grep -q "INVALID .*${want}" "${TMP}/out" || die "not reported: ${want}: $(cat "${TMP}/out")"
done
grep -qx '1 valid, 5 invalid (Service 1)' "${TMP}/out" ||
  die "broken manifest summary: $(tail -n 1 "${TMP}/out")"
log "negative controls: every broken object was reported"
echo "k8s_schema_test: ${objects} objects in ${#rendered[@]} overlays valid; negative controls ok"
