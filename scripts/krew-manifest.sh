#!/usr/bin/env bash
# Prints the krew plugin manifest for a release: deploy/krew/kaptain.yaml.tmpl with the version,
# the archive's URL and its sha256 filled in. The archive (tar.gz) must hold `kaptain` and
# LICENSE at its top level.
#
#   scripts/krew-manifest.sh VERSION ARCHIVE URI HOMEPAGE
#   scripts/krew-manifest.sh v0.1.0 kaptain-linux-amd64.tar.gz https://example.org/kaptain-linux-amd64.tar.gz https://example.org/kaptain
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 4 ]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
version="$1" archive="$2" uri="$3" homepage="$4"
case "$version" in v*) ;; *) echo "krew-manifest: the version must start with v (semver): $version" >&2; exit 2 ;; esac
[ -f "$archive" ] || { echo "krew-manifest: $archive: no such file" >&2; exit 2; }
listing="$(tar -tzf "$archive")" || { echo "krew-manifest: $archive is not a tar.gz archive" >&2; exit 2; }
for f in kaptain LICENSE; do
  grep -qx "\(\./\)\?$f" <<<"$listing" || { echo "krew-manifest: $archive has no $f at its top level" >&2; exit 2; }
done
sha="$(sha256sum "$archive" | cut -d' ' -f1)"
sed -e "s|@VERSION@|$version|" -e "s|@HOMEPAGE@|$homepage|" -e "s|@URI_LINUX_AMD64@|$uri|" \
    -e "s|@SHA256_LINUX_AMD64@|$sha|" deploy/krew/kaptain.yaml.tmpl | grep -v '^# '
