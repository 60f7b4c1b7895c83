#!/usr/bin/env bash
# Builds Kaptain's container image WITHOUT a container engine: the release binary on a minimal
# root made from Debian's packages (libc6, libgcc-s1, ca-certificates — what the binary links
# and the CA bundle for TLS), as an OCI image archive (scripts/oci_image.py) that skopeo, podman,
# docker, kind and k3d load. Non-root (65532), entrypoint `kaptain`, nothing written to the root
# filesystem at run time (the chart mounts what it needs), reproducible layer.
#
#   scripts/build-image.sh                        # target/kaptain-image.tar, kaptain/kaptain:<version>
#   scripts/build-image.sh --check                # then runs the image's kaptain in a chroot
#   scripts/build-image.sh --binary PATH --out FILE --tag TAG
#
# Load it:  kind load image-archive target/kaptain-image.tar
#           k3d image import target/kaptain-image.tar
#           skopeo copy oci-archive:target/kaptain-image.tar docker://REGISTRY/kaptain/kaptain:TAG
#           docker load -i target/kaptain-image.tar   (or podman load -i ...)
# The Helm chart's default image is the name and tag this script writes.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }

binary="" out="target/kaptain-image.tar" check=0
tag="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
name="kaptain/kaptain"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a tag}"; shift 2 ;;
    --check) check=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [ -z "$binary" ]; then
  log "cargo build --release -p kaptain"
  cargo build --release --locked -q -p kaptain --bin kaptain
  target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  binary="$target_dir/release/kaptain"
fi
[ -x "$binary" ] || die "$binary: not an executable"

# Debian's packages for the root, downloaded once (apt-get download needs no root).
debs="${KAPTAIN_CACHE:-$HOME/.cache/kaptain}/image-debs"
mkdir -p "$debs"
packages=(libc6 libgcc-s1 ca-certificates)
if ! ls "$debs"/libc6_*.deb "$debs"/libgcc-s1_*.deb "$debs"/ca-certificates_*.deb >/dev/null 2>&1; then
  log "apt-get download ${packages[*]}"
  (cd "$debs" && apt-get download "${packages[@]}" >&2) || {
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    (cd "$debs" && apt-get download "${packages[@]}" >&2)
  }
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"
for p in "${packages[@]}"; do
  deb="$(ls -t "$debs/${p}"_*.deb | head -n 1)"
  dpkg-deb -x "$deb" "$root"
done
# What update-ca-certificates would make: one bundle of Mozilla's roots.
mkdir -p "$root/etc/ssl/certs"
cat "$root"/usr/share/ca-certificates/mozilla/*.crt > "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root/usr/share/doc" "$root/usr/share/man" "$root/usr/share/locale" "$root/usr/share/lintian" \
       "$root/usr/share/ca-certificates" "$root/usr/sbin" "$root/usr/bin" "$root/usr/lib/x86_64-linux-gnu/gconv"
mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/home/nonroot" "$root/var/lib/kaptain"
chmod 1777 "$root/tmp"
install -m 0755 "$binary" "$root/usr/local/bin/kaptain"
command -v strip >/dev/null && strip --strip-debug "$root/usr/local/bin/kaptain" 2>/dev/null || true
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"

mkdir -p "$(dirname "$out")"
digest="$(python3 scripts/oci_image.py "$root" "$out" --name "$name" --tag "$tag" \
  --entrypoint /usr/local/bin/kaptain --user 65532:65532 \
  --env HOME=/home/nonroot --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --label "org.opencontainers.image.title=kaptain" \
  --label "org.opencontainers.image.version=$tag" \
  --label "org.opencontainers.image.licenses=Apache-2.0")"
log "$name:$tag $digest $(du -h "$out" | cut -f1) $out"

if [ "$check" -eq 1 ]; then
  # Unpack the archive's layer into a fresh root and run the image's binary there, as the
  # image's user, with nothing from this machine's root.
  [ "$(id -u)" -eq 0 ] || die "--check needs root (chroot)"
  # A reader nobody here wrote: skopeo (Debian's) copies the archive, checking every digest
  # and size against the manifest.
  if ! command -v skopeo >/dev/null; then
    log "installing skopeo"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo >&2
  fi
  skopeo copy -q "oci-archive:$out" "dir:$work/skopeo" >&2 || die "FAILED: skopeo cannot read $out"
  log "skopeo read $name:$tag: every digest and size matches"
  check_root="$work/check"
  mkdir -p "$check_root"
  python3 - "$out" "$check_root" <<'PY'
import json, sys, tarfile, io, gzip
archive, dest = sys.argv[1:]
with tarfile.open(archive) as t:
    index = json.load(t.extractfile("index.json"))
    manifest = json.load(t.extractfile("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
    config = json.load(t.extractfile("blobs/sha256/" + manifest["config"]["digest"].split(":")[1]))
    assert config["config"]["User"] == "65532:65532", config["config"]
    layer = t.extractfile("blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]).read()
with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as l:
    l.extractall(dest, filter="tar")
PY
  version="$(chroot --userspec=65532:65532 "$check_root" /usr/local/bin/kaptain --version)" \
    || die "FAILED: kaptain --version in the image's root"
  log "in the image: $version"
  mkdir -p "$check_root/tmp/shop"
  cp -r examples/broken-shop/. "$check_root/tmp/shop/"
  chmod -R a+rX "$check_root/tmp/shop"
  set +e
  report="$(chroot --userspec=65532:65532 "$check_root" /usr/local/bin/kaptain diagnose --from /tmp/shop 2>&1)"
  code=$?
  set -e
  [ "$code" -eq 1 ] || { printf '%s\n' "$report" >&2; die "FAILED: kaptain diagnose --from in the image exited $code, want 1 (findings)"; }
  grep -q "ConfigMap" <<<"$report" || { printf '%s\n' "$report" >&2; die "FAILED: the image's diagnose names no ConfigMap"; }
  log "in the image: kaptain diagnose --from examples/broken-shop found $(grep -c '' <<<"$report") lines of findings (exit 1)"
fi
echo "$out"
