#!/usr/bin/env bash
# Build Kueue's manager (sigs.k8s.io/kueue/cmd/kueue) from its Go module, for the dev cluster's
# optional Kueue (`kueue: {enabled: true}` in the dev config, or `kubetrain dev up --kueue`).
#
# The version is pinned by hack/tools/kueue/go.mod (with its go.sum). Next to the binary, in
#   ${KUBETRAIN_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kubetrain}/bin/kueue-<version>/
# it writes Kueue's own manifests taken from the same module, not hand-written copies:
#   kueue-crds.yaml        config/components/crd/bases/*.yaml (every Kueue CRD)
#   kueue-conversion.yaml  the CRD patches that config/components/crd/kustomization.yaml
#                          applies: which CRDs get Kueue's conversion webhook
#   kueue-webhooks.yaml    config/components/webhook/manifests.yaml (the webhook
#                          configurations; the dev cluster points them at its own server)
# and links them all from bin/current. Like hack/build-k8s.sh it prints that directory as the
# last line of stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/tools"
cache=${KUBETRAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrain}
bindir="$cache/bin/current"
log_tag=build-kueue
# shellcheck source=lib/build.sh
source "$here/lib/build.sh"

kueue_version=$(version kueue sigs.k8s.io/kueue)
[ -n "$kueue_version" ] || { log "could not read the pinned version from $tools/kueue/go.mod"; exit 1; }
src=$(module_dir kueue sigs.k8s.io/kueue "$kueue_version")

# One line of Kueue's main package (cmd/kueue/main.go, its only file) is changed: with
# internalCertManagement off, Kueue reads its metrics server's certificate from the fixed path
# /etc/kueue/metrics/certs, a container mount, and a dev cluster runs it as a process that must
# not write to /etc. The copy, built inside the wrapper module (so against the same pinned
# dependencies), reads KUEUE_METRICS_CERT_DIR instead when it is set; unset, it behaves as
# upstream. The cache key says so: kueue-<version>-kubetrain.1.
build_id="$kueue_version-kubetrain.1"
out="$cache/bin/kueue-$build_id"
main_go="$src/cmd/kueue/main.go"
cert_line='metricsCertPath := "/etc/kueue/metrics/certs"'
patched="$tools/kueue/cmd/kueue/main.go"  # generated, ignored by git
if [ ! -x "$out/kueue" ]; then
  grep -qF "$cert_line" "$main_go" || {
    log "$main_go no longer has the line: $cert_line (update hack/build-kueue.sh)"; exit 1; }
  mkdir -p "$(dirname "$patched")"
  awk -v line="$cert_line" '{
      i = index($0, line)
      if (i) $0 = substr($0, 1, i - 1) line "; if d := os.Getenv(\"KUEUE_METRICS_CERT_DIR\"); d != \"\" { metricsCertPath = d }"
      print
    }' "$main_go" > "$patched"
fi
build kueue kueue "$build_id" ./cmd/kueue \
  "-X sigs.k8s.io/kueue/pkg/version.GitVersion=$kueue_version -X sigs.k8s.io/kueue/pkg/version.BuildDate=1970-01-01T00:00:00Z"

manifests=(kueue-crds.yaml kueue-conversion.yaml kueue-webhooks.yaml)
have_manifests() { for m in "${manifests[@]}"; do [ -s "$out/$m" ] || return 1; done; }
if ! have_manifests; then
  crd_dir="$src/config/components/crd"
  webhooks="$src/config/components/webhook/manifests.yaml"
  crds=("$crd_dir"/bases/*.yaml)
  [ -f "${crds[0]}" ] && [ -f "$webhooks" ] && [ -f "$crd_dir/kustomization.yaml" ] || {
    log "Kueue's manifests not found in $src/config"; exit 1; }
  for f in "${crds[@]}"; do printf -- '---\n'; cat "$f"; done > "$out/kueue-crds.yaml.tmp"
  # Only the patches the kustomization enables (commented-out lines start with '#').
  awk '$1 == "-" && $2 == "path:" && $3 ~ /^patches\/webhook_in_/ {print $3}' \
    "$crd_dir/kustomization.yaml" | while read -r patch; do
      printf -- '---\n'; cat "$crd_dir/$patch"
    done > "$out/kueue-conversion.yaml.tmp"
  cat "$webhooks" > "$out/kueue-webhooks.yaml.tmp"
  for m in "${manifests[@]}"; do mv "$out/$m.tmp" "$out/$m"; done
  log "Kueue's CRDs and webhook manifests written to $out"
fi
for m in "${manifests[@]}"; do ln -sfn "$out/$m" "$bindir/$m"; done

log "kueue ready in $bindir"
echo "$bindir"
