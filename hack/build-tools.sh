#!/usr/bin/env bash
# Build the chart and GitOps test tools from Go modules: kube-score (lints the rendered chart)
# and kstatus (a tiny command around sigs.k8s.io/cli-utils' kstatus, the status reader of Flux).
#
# Versions are pinned by hack/tools/{kube-score,kstatus}/go.mod (with their go.sum). Like
# hack/build-k8s.sh, binaries land in a cache outside the repository keyed by version and are
# linked into .../bin/current; the last line of stdout is that directory. Progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/tools"
cache=${KUBETRAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrain}
bindir="$cache/bin/current"

export GOSUMDB=${GOSUMDB:-off} GOFLAGS=${GOFLAGS:--mod=mod} CGO_ENABLED=0 GOTOOLCHAIN=local

log() { printf '[build-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# version MODULE_DIR MODULE_PATH -> the version that go.mod requires
version() { awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) {print $NF; exit}' "$tools/$1/go.mod"; }

# build MODULE_DIR NAME VERSION PACKAGE
build() {
  local dir=$1 name=$2 ver=$3 pkg=$4
  local out="$cache/bin/$name-$ver/$name"
  if [ -x "$out" ]; then
    log "$name $ver: cached"
  else
    log "$name $ver: building $pkg"
    local start=$SECONDS
    mkdir -p "$(dirname "$out")"
    (cd "$tools/$dir" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg") || {
      log "$name: build failed"; exit 1; }
    mv "$out.tmp" "$out"
    log "$name $ver: built in $((SECONDS - start))s"
  fi
  mkdir -p "$bindir"
  ln -sfn "$out" "$bindir/$name"
}

kube_score_version=$(version kube-score github.com/zegl/kube-score)
# The kstatus command is ours; its version is that of the cli-utils module it wraps plus a
# hash of its source, so an edit to main.go rebuilds it.
cli_utils_version=$(version kstatus sigs.k8s.io/cli-utils)
kstatus_hash=$(cat "$tools/kstatus/main.go" "$tools/kstatus/go.sum" | sha256sum | cut -c1-12)
[ -n "$kube_score_version" ] && [ -n "$cli_utils_version" ] || {
  log "could not read the pinned versions from $tools/{kube-score,kstatus}/go.mod"; exit 1; }

build kube-score kube-score "$kube_score_version" github.com/zegl/kube-score/cmd/kube-score
build kstatus kstatus "$cli_utils_version-$kstatus_hash" .

log "tools ready in $bindir"
echo "$bindir"
