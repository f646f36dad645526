# Shared by hack/build-*.sh (sourced, not run): build Go binaries from pinned wrapper modules
# under hack/tools/<dir> into a version-keyed cache outside the repository, and link each from
# $bindir. The caller sets `tools`, `cache`, `bindir` and `log_tag` before sourcing.

# The module proxy is reachable but the checksum database may not be; go.sum is committed.
export GOSUMDB=${GOSUMDB:-off} GOFLAGS=${GOFLAGS:--mod=mod} CGO_ENABLED=0 GOTOOLCHAIN=local

log() { printf '[%s %s] %s\n' "$log_tag" "$(date +%H:%M:%S)" "$*" >&2; }

# version MODULE_DIR MODULE_PATH -> the version that go.mod requires
version() { awk -v m="$2" '$1 == m || ($1 == "require" && $2 == m) {print $NF; exit}' "$tools/$1/go.mod"; }

# module_dir MODULE_DIR MODULE_PATH VERSION -> the module's source directory in the module cache
module_dir() {
  (cd "$tools/$1" && go mod download -json "$2@$3" | awk -F'"' '/"Dir"/ {print $4}')
}

# build MODULE_DIR NAME VERSION PACKAGE [LDFLAGS]
build() {
  local dir=$1 name=$2 ver=$3 pkg=$4 ldflags=${5:-}
  local out="$cache/bin/$name-$ver/$name"
  if [ -x "$out" ]; then
    log "$name $ver: cached"
  else
    log "$name $ver: building $pkg (cold builds take minutes on 2 cores)"
    local start=$SECONDS
    mkdir -p "$(dirname "$out")"
    # A ticker so that a long cold build visibly makes progress.
    ( while sleep 30; do log "  ... still building $name ($((SECONDS - start))s)"; done ) &
    local ticker=$!
    if ! (cd "$tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg"); then
      kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
      log "$name: build failed"; exit 1
    fi
    kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
    mv "$out.tmp" "$out"
    log "$name $ver: built in $((SECONDS - start))s"
  fi
  mkdir -p "$bindir"
  ln -sfn "$out" "$bindir/$name"
}
