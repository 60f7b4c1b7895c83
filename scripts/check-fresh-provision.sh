#!/usr/bin/env bash
# Proves that the provisioning scripts work on a FRESH machine of this kind, not only on a warm
# one whose caches let them exit early. It builds a clean Debian root with debootstrap, gives it
# what a new machine of this kind has that matters to apt (the same apt sources and settings, and
# a `kubectl` package that owns /usr/bin/kubectl, as the image's does), then runs
# scripts/provision-k8s.sh --no-build, scripts/provision-postgres.sh,
# scripts/provision-browser.sh, scripts/provision-llm-model.sh and
# scripts/provision-llama-server.sh --deps-only inside it and checks what they left.
# A new machine of this kind has CPython with pip (not from apt); the root gets Debian's python3
# and python3-pip in its place, and nothing else Python.
#
#   scripts/check-fresh-provision.sh                 # what CI runs
#   scripts/check-fresh-provision.sh --full          # also compiles llama-cpp-python in the root
#                                                    # (scripts/provision-llama-server.sh; minutes)
#   scripts/check-fresh-provision.sh --scripts DIR   # provisioning scripts from DIR instead
#                                                    # (e.g. an old version, to see the check fail)
#
# Cached between runs on one machine (~/.cache/kaptain/fresh-root, KAPTAIN_FRESH_CACHE): the
# debootstrap base as a tarball and the downloaded .deb files. Every run unpacks the base into a
# new temporary root, so no state from an earlier run reaches the check; only downloads are saved.
# The kubernetes build itself is not repeated here (it needs nothing apt decides that the
# --no-build run does not already install); `scripts/test.sh` does it on the machine itself.
# Needs root (debootstrap, chroot, mounts in a private mount namespace).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'check-fresh-provision: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

SCRIPTS="$PWD/scripts"
FULL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scripts) SCRIPTS="$(cd "$2" && pwd)"; shift 2 ;;
    --full) FULL=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument $1 (see --help)"; exit 2 ;;
  esac
done

[ "$(id -u)" -eq 0 ] || { log "needs root (debootstrap, chroot and mounts)"; exit 2; }

CACHE="${KAPTAIN_FRESH_CACHE:-$HOME/.cache/kaptain/fresh-root}"
SUITE="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
BASE="$CACHE/$SUITE-minbase.tar"
ARCHIVES="$CACHE/archives"
PIPCACHE="$CACHE/pip"
mkdir -p "$CACHE" "$ARCHIVES/partial" "$PIPCACHE"

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

# The mirror the machine's own apt uses for the main suite (not the security one).
mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    awk -v suite="$SUITE" '
      /^URIs:/ { uri = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
      /^$/ { if (found && uri != "") { print uri; exit } ; uri = ""; found = 0 }
      END { if (found && uri != "") print uri }' "$f"
  done | head -n1
}

if [ ! -s "$BASE" ]; then
  MIRROR="$(mirror)"
  [ -n "$MIRROR" ] || die "no apt source for $SUITE in /etc/apt/sources.list.d"
  log "debootstrap $SUITE (minbase), once; cached as $BASE"
  tmp="$(mktemp -d)"
  debootstrap --variant=minbase --cache-dir="$ARCHIVES" "$SUITE" "$tmp" "$MIRROR" >&2 \
    || { rm -rf "$tmp"; die "debootstrap"; }
  tar -C "$tmp" -cf "$BASE.part" . && mv "$BASE.part" "$BASE"
  rm -rf "$tmp"
fi

# A `kubectl` package like the image's (same name and version, owning /usr/bin/kubectl), holding
# a real kubectl client when the machine has one so that the scripts can use it.
KUBECTL_DEB="$CACHE/kubectl-image-like.deb"
if [ ! -s "$KUBECTL_DEB" ]; then
  pkg="$(mktemp -d)"
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin"
  if real="$(readlink -f "$(command -v kubectl 2>/dev/null || true)" 2>/dev/null)" && [ -x "$real" ]; then
    cp "$real" "$pkg/usr/bin/kubectl"
  else
    printf '#!/bin/sh\necho "Client Version: v1.32.0 (stand-in)"\n' > "$pkg/usr/bin/kubectl"
    chmod 755 "$pkg/usr/bin/kubectl"
  fi
  cat > "$pkg/DEBIAN/control" <<EOF
Package: kubectl
Version: 1:528.0.0-0
Architecture: amd64
Maintainer: Kaptain fresh-root check <noreply@invalid>
Description: kubectl as machines of this kind ship it (owns /usr/bin/kubectl)
EOF
  dpkg-deb --root-owner-group --build "$pkg" "$KUBECTL_DEB.part" >&2
  mv "$KUBECTL_DEB.part" "$KUBECTL_DEB"
  rm -rf "$pkg"
fi

ROOT="$(mktemp -d /tmp/kaptain-fresh-root.XXXXXX)"
chmod 755 "$ROOT"   # mktemp makes it 0700: the root's own users (postgres, _apt) must reach /
cleanup() { rm -rf "$ROOT"; }
trap cleanup EXIT
log "fresh root in $ROOT"
tar -C "$ROOT" -xf "$BASE"

# What a new machine of this kind has that apt's decisions depend on: its sources (binary lists
# only), its apt settings and keyrings, and the kubectl package.
rm -f "$ROOT"/etc/apt/sources.list "$ROOT"/etc/apt/sources.list.d/*
cp /etc/apt/sources.list.d/*.sources "$ROOT/etc/apt/sources.list.d/"
cp -a /etc/apt/apt.conf.d/. "$ROOT/etc/apt/apt.conf.d/"
# Keep the downloaded .deb files for the next run (the image's settings delete them).
rm -f "$ROOT/etc/apt/apt.conf.d/docker-clean"
cp -a /usr/share/keyrings/. "$ROOT/usr/share/keyrings/"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The machine's TLS trust (its registries are reached through a proxy with its own CA) and pip's
# settings: the bundle as it is, and the local CAs so that a ca-certificates install keeps them.
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/local/share/ca-certificates"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"   # no services start in the root
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
cp "$KUBECTL_DEB" "$ROOT/tmp/kubectl.deb"
mkdir -p "$ROOT/src"
cp -a "$SCRIPTS" "$ROOT/src/scripts"

# The check itself runs in a private mount namespace: the mounts go when it ends, even on failure.
inner() {
  set -euo pipefail
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  mount --bind "$ARCHIVES" "$ROOT/var/cache/apt/archives"
  mkdir -p "$ROOT/root/.cache/pip"
  mount --bind "$PIPCACHE" "$ROOT/root/.cache/pip"   # downloads only, like apt's archives
  in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
  in_root dpkg -i /tmp/kubectl.deb >&2
  log "the root has kubectl from package '$(in_root dpkg -S /usr/bin/kubectl | cut -d: -f1)'; running the provisioning scripts"
  in_root bash /src/scripts/provision-k8s.sh --no-build >&2 || { log "FAILED: provision-k8s.sh --no-build in a fresh root"; return 1; }
  in_root bash /src/scripts/provision-postgres.sh >&2 || { log "FAILED: provision-postgres.sh in a fresh root"; return 1; }
  in_root bash /src/scripts/provision-browser.sh >&2 || { log "FAILED: provision-browser.sh in a fresh root"; return 1; }
  log "installing Debian's python3 and python3-pip in place of the machine's own CPython with pip"
  in_root sh -c 'apt-get install -y -qq --no-install-recommends python3 python3-pip >/dev/null' >&2 \
    || { log "FAILED: python3 from apt"; return 1; }
  in_root bash /src/scripts/provision-llm-model.sh >&2 || { log "FAILED: provision-llm-model.sh in a fresh root"; return 1; }
  if [ "$FULL" = 1 ]; then
    local t0=$SECONDS
    in_root bash /src/scripts/provision-llama-server.sh >&2 || { log "FAILED: provision-llama-server.sh in a fresh root"; return 1; }
    log "provision-llama-server.sh compiled llama-cpp-python in $((SECONDS - t0)) s"
  else
    in_root bash /src/scripts/provision-llama-server.sh --deps-only >&2 || { log "FAILED: provision-llama-server.sh --deps-only in a fresh root"; return 1; }
  fi

  log "checking what they left"
  local owner
  owner="$(in_root dpkg -S /usr/bin/kubectl | cut -d: -f1)"
  [ "$owner" = kubectl ] || { log "FAILED: /usr/bin/kubectl now belongs to '$owner', not the machine's kubectl package"; return 1; }
  in_root kubectl version --client >/dev/null 2>&1 || { log "FAILED: kubectl does not run"; return 1; }
  in_root test -x /usr/lib/go-1.19/bin/go || { log "FAILED: Go 1.19 missing"; return 1; }
  in_root sh -c 'command -v etcd rsync jq make >/dev/null' || { log "FAILED: etcd, rsync, jq or make missing"; return 1; }
  in_root sh -c 'ls /root/.cache/kaptain/build/kubernetes-1.20.2/Makefile >/dev/null' || { log "FAILED: kubernetes source not unpacked"; return 1; }
  in_root sh -c 'test -d /root/.cache/kaptain/build/kubernetes-1.20.2/vendor/github.com/modern-go/reflect2 && ! test -e /root/.cache/kaptain/build/kubernetes-1.20.2/vendor/github.com/modern-go/reflect2/go.mod' \
    || { log "FAILED: reflect2 not swapped into vendor/"; return 1; }
  in_root sh -c 'ls /usr/lib/postgresql/*/bin/initdb >/dev/null' || { log "FAILED: PostgreSQL's initdb missing"; return 1; }
  in_root test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { log "FAILED: chromium or chromedriver missing"; return 1; }
  in_root sh -c '[ "$(head -c 4 /root/.cache/kaptain/models/SmolLM2-135M-Instruct.Q4_1.gguf)" = GGUF ]' \
    || { log "FAILED: the GGUF model is missing"; return 1; }
  in_root sh -c 'command -v cmake cc c++ >/dev/null && python3 -c "import venv, ensurepip"' \
    || { log "FAILED: cmake, the compilers or python3-venv missing"; return 1; }
  if [ "$FULL" = 1 ]; then
    in_root /root/.cache/kaptain/llama-cpp-venv/bin/python -c 'import llama_cpp.server.app' \
      || { log "FAILED: llama_cpp.server does not import"; return 1; }
  fi
}
export -f inner log
export ROOT ARCHIVES PIPCACHE FULL
started=$SECONDS
unshare --mount --propagation private bash -c inner
log "ok: every provisioning script passed in a fresh $SUITE root with the image's kubectl package ($((SECONDS - started)) s)"
