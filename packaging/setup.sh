#!/usr/bin/env bash
# Installs what `npm run package` and test/packaging need on a Debian host: dpkg-dev/dpkg-shlibdeps,
# rpmbuild/rpmsign, lintian, rpmlint, gpg, strip, systemd-analyze (the systemd package; no running
# systemd is needed), man (systemd-analyze verify checks Documentation=man:...), util-linux's unshare.
# `npm run package` runs it first. Safe to run twice; installs only what is missing, and needs root only
# then. --with-apt-lists (test/packaging): also make sure apt has package lists, since the test resolves
# the .deb dependencies against the archive (apt-get install -s).
set -euo pipefail

PACKAGES=(dpkg-dev rpm lintian rpmlint gnupg binutils systemd man-db util-linux adduser passwd)

log() { printf 'packaging/setup: %s\n' "$*" >&2; }

want_lists=false
for a in "$@"; do
  case "$a" in
    --with-apt-lists) want_lists=true ;;
    *) log "unknown option $a"; exit 2 ;;
  esac
done

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
need_lists=false
if $want_lists && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' 2>/dev/null | head -1)" ]; then
  need_lists=true
fi
if [ ${#missing[@]} -eq 0 ] && ! $need_lists; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "not a Debian host: install the equivalents of ${missing[*]} (rpmbuild, dpkg-deb, strip...) yourself"
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  log "missing ${missing[*]:-apt package lists}: run as root once (sudo npm run package) to install them"
  exit 1
fi
if [ ${#missing[@]} -gt 0 ] || $need_lists; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
