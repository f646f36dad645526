#!/usr/bin/env bash
# Build the dev cluster's binaries from Go modules: kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl (all one Kubernetes version), etcd, kwok and helm.
#
# Versions are pinned by the wrapper modules under hack/tools/*/go.mod (with their go.sum).
# Binaries land in a cache outside the repository, keyed by version, so a warm run only
# checks that they exist:
#   ${KUBETRAIN_CACHE:-${XDG_CACHE_HOME:-~/.cache}/kubetrain}/bin/<name>-<version>/<name>
# It prints the directory holding every binary (the last line of stdout) so that callers can
# do `bindir=$(hack/build-k8s.sh | tail -n1)`. Progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools="$here/tools"
cache=${KUBETRAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrain}
bindir="$cache/bin/current"

log_tag=build-k8s
# shellcheck source=lib/build.sh
source "$here/lib/build.sh"

k8s_version=$(version kubernetes k8s.io/kubernetes)
etcd_version=$(version etcd go.etcd.io/etcd/server/v3)
kwok_version=$(version kwok sigs.k8s.io/kwok)
helm_version=$(version helm helm.sh/helm/v3)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] && [ -n "$kwok_version" ] && [ -n "$helm_version" ] || {
  log "could not read the pinned versions from $tools/*/go.mod"; exit 1; }

minor=${k8s_version#v1.}; minor=${minor%%.*}
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build kubernetes kube-apiserver "$k8s_version" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kubernetes kube-controller-manager "$k8s_version" k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kubernetes kube-scheduler "$k8s_version" k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
build kubernetes kubectl "$k8s_version" k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
build etcd etcd "$etcd_version" . \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=release"
build kwok kwok "$kwok_version" sigs.k8s.io/kwok/cmd/kwok \
  "-X sigs.k8s.io/kwok/pkg/consts.Version=$kwok_version"
# kwok ships no default Stages any more: take the "fast" node and pod stages and the lease
# heartbeat from the pinned kwok module itself.
kwok_stages="$cache/bin/kwok-$kwok_version/stages.yaml"
if [ ! -s "$kwok_stages" ]; then
  kwok_src=$(module_dir kwok sigs.k8s.io/kwok "$kwok_version")
  stage_dir="$kwok_src/kustomize/stage"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [ -f "$stage_dir/$f" ] || { log "kwok stage $f not found in $stage_dir"; exit 1; }
    printf -- '---\n'; cat "$stage_dir/$f"
  done > "$kwok_stages.tmp"
  mv "$kwok_stages.tmp" "$kwok_stages"
  log "kwok stages written to $kwok_stages"
fi
ln -sfn "$kwok_stages" "$bindir/kwok-stages.yaml"

build helm helm "$helm_version" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$helm_version"

log "all binaries ready in $bindir"
echo "$bindir"
