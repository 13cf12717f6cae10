#!/usr/bin/env bash
# Prepares this host for Stratus's demo and tests: apt packages, npm dependencies,
# and the libvirt daemons (there may be no systemd, so they are started directly).
# Safe to run twice; does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils qemu-block-extra
  xorriso genisoimage busybox-static linux-image-cloud-amd64 libxml2-utils cpio xz-utils zstd
  dnsmasq-base tgt libiscsi-bin mosquitto mosquitto-clients nftables iproute2 procps
  chromium isc-dhcp-client cloud-image-utils open-iscsi mmdebstrap e2fsprogs
)

log() { printf 'setup-host: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "must run as root (it installs packages and starts libvirtd)"; exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  stamp=/var/lib/apt/periodic/stratus-update-stamp
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
    apt-get update -qq && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules/koffi ] || [ ! -d node_modules/better-sqlite3/build ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# QEMU runs as root here: there may be no libvirt-qemu user, and tests use files under /var/lib/stratus.
qconf=/etc/libvirt/qemu.conf
if ! grep -q '^# stratus: run qemu as root' "$qconf"; then
  log "configuring $qconf (user=root, no dynamic ownership changes)"
  printf '\n# stratus: run qemu as root\nuser = "root"\ngroup = "root"\n' >>"$qconf"
fi

running() { pgrep -x "$1" >/dev/null 2>&1; }
if ! running virtlogd; then log "starting virtlogd"; /usr/sbin/virtlogd -d; fi
if ! running libvirtd; then log "starting libvirtd"; /usr/sbin/libvirtd -d; fi
for _ in $(seq 1 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
virsh -c qemu:///system version >/dev/null 2>&1 || { log "libvirtd does not answer on qemu:///system"; exit 1; }

# The test guest (kernel + busybox initramfs built from Debian packages), cached between runs.
if [ -x scripts/build-test-guest.sh ]; then
  bash scripts/build-test-guest.sh >&2
fi
# The Debian cloud-init guest (mmdebstrap from the Debian mirror: minutes the first time, then cached).
# Not fatal: without it, only the test that boots it fails, saying why.
if [ -x scripts/build-debian-guest.sh ]; then
  bash scripts/build-debian-guest.sh >&2 || log "the Debian cloud-init guest could not be built (see above); test/controller/context/cloud-init-guest.test.ts will fail"
fi
log "host ready"
