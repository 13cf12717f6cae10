#!/usr/bin/env bash
# Prove that the Stratus test guest boots under plain QEMU (TCG, no libvirt)
# and speaks its console protocol (docs/test-guest.md):
#   boot          BOOTED + DHCP (user networking) + READY, boot time measured
#   marker-write  stratus.marker_write=hello -> WRITTEN/READ on a qcow2 overlay
#   marker-found  a second boot of the same overlay -> MARKER-FOUND hello
#   host-marker   a marker written from the host into a raw disk is found;
#                 a %20-escaped marker written by the guest is read on the host
#   context       OpenNebula CONTEXT ISO (IDE CD-ROM) -> hostname + static IP
#   context-q35   same ISO as a virtio-scsi CD-ROM on a q35 machine
#   nocloud       NoCloud cidata ISO -> local-hostname + DHCP
#   acpi          QEMU system_powerdown -> STRATUS-SHUTDOWN acpi, QEMU exits
#
# Usage: scripts/guest/boot-check.sh [--no-build] [--keep] [TEST...]
# Env:   STRATUS_GUEST_DIR (guest files), STRATUS_BOOT_TIMEOUT (s, per boot,
#        default 90), STRATUS_BOOT_TARGET (s, default 5: slower boots warn).
# Ends with "N passed, N failed"; exit status 1 if anything failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$HERE/../build-test-guest.sh"
DIR=${STRATUS_GUEST_DIR:-/var/cache/stratus/test-guest}
TIMEOUT=${STRATUS_BOOT_TIMEOUT:-90}
TARGET=${STRATUS_BOOT_TARGET:-5}
DO_BUILD=1 KEEP=0 ONLY=()
for a in "$@"; do
	case "$a" in
	--no-build) DO_BUILD=0 ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "boot-check: unknown option $a" >&2; exit 2 ;;
	*) ONLY+=("$a") ;;
	esac
done

need() { # command package
	command -v "$1" >/dev/null && return 0
	echo "boot-check: installing $2" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >&2; }
}
need qemu-system-x86_64 qemu-system-x86
need xorriso xorriso

if [[ $DO_BUILD = 1 ]]; then
	STRATUS_GUEST_DIR=$DIR bash "$BUILD" --quiet
fi
for f in vmlinuz initrd.img disk.qcow2 disk.raw manifest.json; do
	[[ -f $DIR/$f ]] || { echo "boot-check: $DIR/$f missing (run scripts/build-test-guest.sh)" >&2; exit 1; }
done
CMDLINE=$(sed -n 's/^ *"cmdline": "\(.*\)",$/\1/p' "$DIR/manifest.json")
[[ -n $CMDLINE ]] || CMDLINE="console=ttyS0 quiet panic=-1"

WORK=$(mktemp -d /tmp/stratus-boot-check.XXXXXX)
cleanup() {
	local p
	for p in "$WORK"/*.pid; do
		[[ -f $p ]] || continue
		kill "$(cat "$p")" 2>/dev/null || true
	done
	if [[ $KEEP = 1 ]]; then echo "boot-check: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PASS=0 FAIL=0 SUMMARY=()
ok() { PASS=$((PASS + 1)); echo "ok   - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }

# boot_start NAME "extra cmdline" [qemu args...]: QEMU in the background; the
# serial console goes to $WORK/NAME.log, each line prefixed by the seconds
# since QEMU was started.
boot_start() {
	local name=$1 append=$2
	shift 2
	: >"$WORK/$name.log"
	(
		start=${EPOCHREALTIME/./}
		timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 256 -nographic -no-reboot \
			-pidfile "$WORK/$name.pid" \
			-kernel "$DIR/vmlinuz" -initrd "$DIR/initrd.img" \
			-append "$CMDLINE $append" "$@" </dev/null 2>"$WORK/$name.err" |
			while IFS= read -r line || [[ -n $line ]]; do
				us=$((${EPOCHREALTIME/./} - start))
				printf '%d.%03d %s\n' $((us / 1000000)) $((us / 1000 % 1000)) "${line%$'\r'}"
			done >>"$WORK/$name.log"
	) &
	BOOT_PID=$!
}
boot_wait() { wait "$BOOT_PID" || true; rm -f "$WORK/$1.pid"; }
# boot NAME "extra cmdline" [qemu args...]: a whole boot (the guest powers
# itself off after STRATUS-GUEST-READY thanks to stratus.poweroff)
boot() {
	local name=$1 append=$2
	shift 2
	boot_start "$name" "$append stratus.poweroff" "$@"
	boot_wait "$name"
}
# console lines of a boot without the time prefix
lines() { sed 's/^[0-9]*\.[0-9]* //' "$WORK/$1.log"; }
# seconds at which an exact console line appeared
line_time() { grep -m1 -E "^[0-9.]+ $(sed 's/[][\.*^$/]/\\&/g' <<<"$2")\$" "$WORK/$1.log" | cut -d' ' -f1; }
expect() { # name "exact line"
	if lines "$1" | grep -qFx -- "$2"; then ok "$1: $2"; else
		bad "$1: no line '$2'"
		echo "  --- console of $1:"; sed 's/^/  | /' "$WORK/$1.log" | tail -n 30
		[[ -s $WORK/$1.err ]] && sed 's/^/  ! /' "$WORK/$1.err" | tail -n 5
	fi
}
expect_re() { # name regex
	if lines "$1" | grep -qE -- "$2"; then ok "$1: $(lines "$1" | grep -m1 -E -- "$2")"; else
		bad "$1: no line matching /$2/"
		sed 's/^/  | /' "$WORK/$1.log" | tail -n 30
	fi
}
expect_none() { # name regex
	if lines "$1" | grep -qE -- "$2"; then bad "$1: unexpected $(lines "$1" | grep -m1 -E -- "$2")"; else ok "$1: no /$2/"; fi
}
booted() { # name: BOOTED seen? record the time
	local t
	t=$(grep -m1 -E '^[0-9.]+ STRATUS-GUEST-BOOTED ' "$WORK/$1.log" | cut -d' ' -f1) || true
	if [[ -n $t ]]; then
		SUMMARY+=("$1: STRATUS-GUEST-BOOTED at ${t}s, READY at $(line_time "$1" STRATUS-GUEST-READY)s")
		if awk -v t="$t" -v m="$TARGET" 'BEGIN { exit !(t > m) }'; then
			echo "warn - $1: boot took ${t}s, more than the ${TARGET}s target"
		fi
	fi
}
selected() { ((${#ONLY[@]} == 0)) && return 0; local t; for t in "${ONLY[@]}"; do [[ $t = "$1" ]] && return 0; done; return 1; }
overlay() { qemu-img create -q -f qcow2 -b "$DIR/disk.qcow2" -F qcow2 "$WORK/$1"; }
NET=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=)

# ------------------------------------------------------------ plain boot
if selected boot; then
	overlay boot.qcow2
	boot boot "" -drive file="$WORK/boot.qcow2",if=virtio "${NET[@]}"
	expect boot "STRATUS-GUEST-BOOTED hostname=stratus-guest"
	expect_re boot '^STRATUS-DHCP eth0 [0-9]+(\.[0-9]+){3}$'
	expect boot "STRATUS-GUEST-READY"
	expect boot "STRATUS-SHUTDOWN cmdline"
	booted boot
fi

# ------------------------------------------------------------ markers
if selected marker-write || selected marker-found; then
	overlay marker.qcow2
	boot marker-write "stratus.marker_write=hello stratus.marker_read stratus.hostname=m1" \
		-drive file="$WORK/marker.qcow2",if=virtio -nic none
	expect marker-write "STRATUS-GUEST-BOOTED hostname=m1"
	expect marker-write "STRATUS-MARKER-WRITTEN hello"
	expect marker-write "STRATUS-MARKER-READ hello"
	expect_none marker-write '^STRATUS-(MARKER-FOUND|DHCP)'
	booted marker-write
	boot marker-found "" -drive file="$WORK/marker.qcow2",if=virtio -nic none
	expect marker-found "STRATUS-MARKER-FOUND hello"
	expect marker-found "STRATUS-GUEST-READY"
	booted marker-found
fi
if selected host-marker; then
	cp "$DIR/disk.raw" "$WORK/host.raw"
	printf 'STRATUS-MARKER-V1\nfrom-host\n' | dd of="$WORK/host.raw" bs=512 count=1 conv=sync,notrunc status=none
	boot host-marker "stratus.marker_write=two%20words stratus.marker_read" \
		-drive file="$WORK/host.raw",if=virtio,format=raw -nic none
	expect host-marker "STRATUS-MARKER-FOUND from-host"
	expect host-marker "STRATUS-MARKER-WRITTEN two words"
	expect host-marker "STRATUS-MARKER-READ two words"
	got=$(head -c 512 "$WORK/host.raw" | tr -d '\000' | sed -n 2p)
	if [[ $got = "two words" ]]; then ok "host-marker: host reads '$got' from the raw disk"; else bad "host-marker: host read '$got'"; fi
	booted host-marker
fi

# ------------------------------------------------------------ context CD-ROMs
mkdir -p "$WORK/ctx" "$WORK/nocloud"
cat >"$WORK/ctx/context.sh" <<'EOF'
# Context variables generated by OpenNebula
DISK_ID='1'
SET_HOSTNAME='ctx-test'
ETH0_IP='10.0.0.5'
ETH0_MASK='255.255.255.0'
ETH0_MAC='52:54:00:12:34:56'
TARGET='hdc'
EOF
xorriso -as mkisofs -quiet -V CONTEXT -J -R -o "$WORK/context.iso" "$WORK/ctx" 2>/dev/null
printf 'instance-id: iid-nc-test\nlocal-hostname: nc-test\n' >"$WORK/nocloud/meta-data"
printf '#cloud-config\n{}\n' >"$WORK/nocloud/user-data"
printf 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n' >"$WORK/nocloud/network-config"
xorriso -as mkisofs -quiet -V cidata -J -R -o "$WORK/nocloud.iso" "$WORK/nocloud" 2>/dev/null

if selected context; then
	boot context "" -cdrom "$WORK/context.iso" "${NET[@]}"
	expect context "STRATUS-CONTEXT label=CONTEXT hostname=ctx-test"
	expect context "STRATUS-IP eth0 10.0.0.5"
	expect_none context '^STRATUS-DHCP'
	expect context "STRATUS-GUEST-READY"
	booted context
fi
if selected context-q35; then
	boot context-q35 "" -machine q35 -device virtio-scsi-pci,id=scsi0 \
		-drive file="$WORK/context.iso",if=none,id=cd0,media=cdrom,format=raw,readonly=on \
		-device scsi-cd,drive=cd0,bus=scsi0.0 "${NET[@]}"
	expect context-q35 "STRATUS-CONTEXT label=CONTEXT hostname=ctx-test"
	expect context-q35 "STRATUS-IP eth0 10.0.0.5"
	booted context-q35
fi
if selected nocloud; then
	boot nocloud "" -cdrom "$WORK/nocloud.iso" "${NET[@]}"
	expect nocloud "STRATUS-CONTEXT label=cidata hostname=nc-test"
	expect_re nocloud '^STRATUS-DHCP eth0 [0-9]+(\.[0-9]+){3}$'
	expect nocloud "STRATUS-GUEST-READY"
	booted nocloud
fi

# ------------------------------------------------------------ ACPI power button
if selected acpi; then
	mkfifo "$WORK/mon.in" "$WORK/mon.out"
	boot_start acpi "" -nic none -monitor pipe:"$WORK/mon"
	for _ in $(seq 1 $((TIMEOUT * 10))); do
		grep -q ' STRATUS-GUEST-READY$' "$WORK/acpi.log" && break
		kill -0 "$BOOT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if grep -q ' STRATUS-GUEST-READY$' "$WORK/acpi.log"; then
		t0=${EPOCHREALTIME/./}
		echo system_powerdown >"$WORK/mon.in"
		for _ in $(seq 1 300); do kill -0 "$BOOT_PID" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$BOOT_PID" 2>/dev/null; then
			bad "acpi: QEMU still running 30 s after system_powerdown"
		else
			us=$((${EPOCHREALTIME/./} - t0))
			ok "acpi: QEMU exited $((us / 1000000)).$((us / 1000 % 1000 / 100))s after system_powerdown"
			SUMMARY+=("acpi: powered off $((us / 1000000)).$((us / 1000 % 1000 / 100))s after system_powerdown")
		fi
	else
		bad "acpi: guest never printed STRATUS-GUEST-READY"
	fi
	boot_wait acpi
	expect acpi "STRATUS-SHUTDOWN acpi"
fi

echo
for s in "${SUMMARY[@]}"; do echo "time - $s"; done
echo "$PASS passed, $FAIL failed"
((FAIL == 0))
