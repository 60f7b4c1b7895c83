#!/usr/bin/env bash
# Installs what the real test control plane needs and builds kube-apiserver,
# kube-controller-manager and kube-scheduler v1.20.2 from Debian's `kubernetes`
# source package into a cache, once. Later runs reuse the cache.
#
#   scripts/provision-k8s.sh            # prints the directory holding the binaries
#   scripts/provision-k8s.sh --no-build # packages and source only (the fresh-root check)
#
# Honours KUBEBUILDER_ASSETS: if it points at a directory with `etcd` and
# `kube-apiserver` (setup-envtest's layout), nothing is built and that path is printed.
#
# kubectl: any kubectl already on PATH is used as it is (machines of this kind ship one in a
# `kubectl` package, which owns /usr/bin/kubectl; Debian's `kubernetes-client` would fight it
# for that path and fail). Debian's `kubernetes-client` is installed only when there is none.
set -euo pipefail

NO_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --no-build) NO_BUILD=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) printf 'provision-k8s: unknown argument %s (see --help)\n' "$arg" >&2; exit 2 ;;
  esac
done

CACHE="${KAPTAIN_K8S_CACHE:-$HOME/.cache/kaptain/k8s-v1.20.2}"
log() { printf 'provision-k8s: %s\n' "$*" >&2; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ]; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

have_bins() {
  [ -x "$CACHE/kube-apiserver" ] && [ -x "$CACHE/kube-controller-manager" ] && \
    [ -x "$CACHE/kube-scheduler" ] && [ -x "$CACHE/etcd" ]
}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

have_kubectl() { command -v kubectl >/dev/null 2>&1; }

if [ $NO_BUILD -eq 0 ] && have_bins && have_kubectl; then
  echo "$CACHE"
  exit 0
fi

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq >&2
    apt_updated=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
}

# Source lists: the image ships binary lists only.
if ! grep -qs 'deb-src' /etc/apt/sources.list.d/debian.sources; then
  log "enabling deb-src"
  $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
  apt_updated=0
fi

# The tests call kubectl (any version from 1.20 on talks to the v1.20 server). Keep the one
# the machine has; Debian's kubernetes-client only where there is none.
kubectl_pkg=()
if have_kubectl; then
  log "using $(command -v kubectl) (already installed)"
else
  kubectl_pkg=(kubernetes-client)
fi

if [ $NO_BUILD -eq 0 ] && have_bins; then
  apt_install "${kubectl_pkg[@]}"
  echo "$CACHE"
  exit 0
fi

apt_install golang-1.19-go etcd-server make rsync jq openssl curl dpkg-dev golang-github-modern-go-reflect2-dev "${kubectl_pkg[@]}"
have_kubectl || { log "kubectl is still missing after installing kubernetes-client"; exit 1; }

mkdir -p "$CACHE"
BUILD="$(dirname "$CACHE")/build"
mkdir -p "$BUILD"
cd "$BUILD"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  if [ $apt_updated -eq 0 ]; then $SUDO apt-get update -qq >&2; apt_updated=1; fi
  log "downloading Debian's kubernetes source package"
  apt-get source --download-only kubernetes >&2
fi
SRC="$BUILD/kubernetes-1.20.2"
if [ ! -d "$SRC" ]; then
  log "unpacking"
  tar xzf kubernetes_*.orig.tar.gz
  # Vendored reflect2 v1.0.1 crashes under Go >= 1.18 (see shared TESTENV.md); use Debian's 1.0.2.
  rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$SRC/vendor/github.com/modern-go/reflect2"
  rm -f "$SRC/vendor/github.com/modern-go/reflect2/go.mod"
fi
if [ $NO_BUILD -eq 1 ]; then
  [ -x /usr/lib/go-1.19/bin/go ] && command -v etcd >/dev/null && [ -f "$SRC/Makefile" ] || {
    log "packages or source missing after provisioning"; exit 1; }
  log "--no-build: packages installed and source unpacked in $SRC"
  echo "$SRC"
  exit 0
fi
cd "$SRC"
# A failed generator run leaves an empty prerelease-lifecycle-gen that breaks later builds.
if [ -f _output/bin/prerelease-lifecycle-gen ] && [ ! -s _output/bin/prerelease-lifecycle-gen ]; then
  rm -rf _output
fi
log "building kube-apiserver, kube-controller-manager, kube-scheduler (about 7 minutes on 2 cores)"
PATH=/usr/lib/go-1.19/bin:$PATH make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >&2
cp _output/bin/kube-apiserver _output/bin/kube-controller-manager _output/bin/kube-scheduler "$CACHE/"
ln -sf "$(command -v etcd)" "$CACHE/etcd"
cd "$BUILD" && rm -rf "$SRC"
log "done: $CACHE"
echo "$CACHE"
