#!/usr/bin/env bash
# Installs what `npm run package` and test/packaging need on a Debian host: dpkg-deb/dpkg-shlibdeps,
# rpmbuild/rpmsign, lintian, rpmlint, gpg, strip, systemd-analyze (the systemd package; no running
# systemd is needed), man (systemd-analyze verify checks Documentation=man:...), util-linux's unshare.
# Safe to run twice; installs only what is missing.
set -euo pipefail

PACKAGES=(dpkg-dev rpm lintian rpmlint gnupg binutils systemd man-db util-linux adduser passwd)

log() { printf 'packaging/setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "must run as root (it installs packages)"; exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# test/packaging resolves the .deb dependencies against the archive (apt-get install -s): it needs lists
lists=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' 2>/dev/null | head -1)
if [ ${#missing[@]} -gt 0 ] || [ -z "$lists" ]; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
