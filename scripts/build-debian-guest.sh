#!/usr/bin/env bash
# Build the Debian cloud-init test guest from Debian packages only (no downloaded images):
#   vmlinuz      the Debian cloud kernel (linux-image-cloud-amd64) installed in the root filesystem
#   initrd.img   its initramfs-tools initrd (MODULES=list: virtio, SCSI/IDE, CD-ROM)
#   disk.qcow2   the root filesystem (ext4 on the whole disk, /dev/vda, no partition table):
#                Debian 12 with cloud-init, openssh-server, sudo, systemd-networkd
#   manifest.json
# into $STRATUS_DEBIAN_GUEST_DIR (default /var/cache/stratus/debian-guest). The root filesystem
# is made with mmdebstrap (installed through apt) from the host's Debian mirror, then put into an
# ext4 image with mkfs.ext4 -d (no loop mount) and converted to a compressed qcow2.
#
# Idempotent: rebuilds only when this script changed or an output is missing or altered (the
# manifest's inputsHash and sizes); a second run takes about a second. Safe to run
# concurrently (flock). Needs root. Options: --force, --quiet, --print-dir. See docs/test-guest.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
OUT=${STRATUS_DEBIAN_GUEST_DIR:-/var/cache/stratus/debian-guest}
SUITE=bookworm
FORMAT=1
# mitigations=off: under TCG the Spectre/Meltdown work-arounds (page-table isolation on every system call)
# halve the speed of cloud-init's Python; a test guest has nothing to protect from itself.
CMDLINE="root=/dev/vda rw console=ttyS0 quiet panic=-1 mitigations=off"
PACKAGES=(systemd-sysv udev cloud-init openssh-server iproute2 sudo linux-image-cloud-amd64 initramfs-tools zstd)
# Boot-time units a test VM does not need (timers, the VGA getty): masked to trim the boot under TCG.
MASKED_UNITS=(
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer fstrim.timer e2scrub_all.timer
	e2scrub_reap.service systemd-tmpfiles-clean.timer getty@tty1.service getty-static.service
	systemd-pstore.service cloud-init-hotplugd.socket
)
# Kernel modules the initrd loads: the root disk, and the CD-ROM, which must exist before systemd's
# generators run: cloud-init's ds-identify looks for the context CD-ROM's label then, and disables
# cloud-init for the boot when it finds none (udev would load sr_mod too late).
INITRD_MODULES=(virtio_pci virtio_blk virtio_scsi sd_mod sr_mod cdrom isofs ata_piix ata_generic)

FORCE=0 QUIET=0
for a in "$@"; do
	case "$a" in
	--force) FORCE=1 ;;
	--quiet | -q) QUIET=1 ;;
	--print-dir) echo "$OUT"; exit 0 ;;
	-h | --help) sed -n '2,15p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-debian-guest: unknown option $a" >&2; exit 2 ;;
	esac
done

log() { [[ $QUIET = 1 ]] || echo "build-debian-guest: $*" >&2; }
die() { echo "build-debian-guest: error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

INPUTS_HASH=$({ echo "format=$FORMAT suite=$SUITE"; sha "$SELF"; } | sha256sum | cut -d' ' -f1)
FILES=(vmlinuz initrd.img disk.qcow2)

# ------------------------------------------------------------ up to date?
# Sizes only for the disk (hashing it on every run would cost seconds); all of it for the small files.
up_to_date() {
	local m=$OUT/manifest.json f line size sum
	[[ -f $m ]] || return 1
	grep -q "\"inputsHash\": \"$INPUTS_HASH\"" "$m" || return 1
	for f in "${FILES[@]}"; do
		[[ -f $OUT/$f ]] || return 1
		line=$(grep -F "\"name\": \"$f\"" "$m") || return 1
		size=$(sed 's/.*"size": \([0-9]*\).*/\1/' <<<"$line")
		sum=$(sed 's/.*"sha256": "\([0-9a-f]*\)".*/\1/' <<<"$line")
		[[ $(stat -c %s "$OUT/$f") = "$size" ]] || return 1
		[[ $f = disk.qcow2 || $(sha "$OUT/$f") = "$sum" ]] || return 1
	done
}
if [[ $FORCE = 0 ]] && up_to_date; then
	log "up to date in $OUT"
	exit 0
fi

# ------------------------------------------------------------ host packages
[[ $(id -u) = 0 ]] || die "must run as root (mmdebstrap --mode=root, apt-get)"
apt_install() {
	log "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" >&2; } ||
		die "apt-get install $* failed"
}
pkgs=()
command -v mmdebstrap >/dev/null || pkgs+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || pkgs+=(e2fsprogs)
command -v qemu-img >/dev/null || pkgs+=(qemu-utils)
command -v flock >/dev/null || pkgs+=(util-linux)
if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -w 1800 9 || die "timed out waiting for the lock on $OUT/.lock"
if [[ $FORCE = 0 ]] && up_to_date; then
	log "up to date in $OUT (built by another run meanwhile)"
	exit 0
fi
log "building in $OUT (Debian $SUITE; several minutes: packages come from the mirror)"

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
# an interrupted mmdebstrap can leave /proc, /sys or /dev mounted in the chroot: unmount before removing
cleanup() {
	local m
	for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do umount -l "$m" || true; done
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK" # apt downloads as _apt
ROOT=$WORK/root

# ------------------------------------------------------------ root filesystem
# The essential hook runs before the kernel is installed, so its initrd is built once, small.
essential_hook=$(
	cat <<EOF
mkdir -p "\$1/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nBUSYBOX=n\nCOMPRESS=zstd\n' >"\$1/etc/initramfs-tools/conf.d/stratus.conf"
mkdir -p "\$1/usr/share/initramfs-tools/modules.d"
printf '%s\n' ${INITRD_MODULES[*]} >"\$1/usr/share/initramfs-tools/modules.d/stratus"
EOF
)
mmdebstrap --mode=root --variant=apt --format=directory \
	--include="$(IFS=,; echo "${PACKAGES[*]}")" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--essential-hook="$essential_hook" \
	"$SUITE" "$ROOT" >&2 || die "mmdebstrap failed (is the Debian mirror in /etc/apt/sources.list* reachable?)"

KVER=$(find "$ROOT/boot" -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
[[ -n $KVER && -f $ROOT/boot/initrd.img-$KVER ]] || die "no kernel and initrd in the root filesystem"
cp "$ROOT/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/initrd.img"
rm -f "$ROOT/boot/vmlinuz-$KVER" "$ROOT/boot/initrd.img-$KVER" "$ROOT/vmlinuz"* "$ROOT/initrd.img"*

# ------------------------------------------------------------ configuration
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$ROOT/etc/fstab"
echo debian >"$ROOT/etc/hostname"
: >"$ROOT/etc/machine-id" # a new one on each VM's first boot
rm -f "$ROOT"/etc/ssh/ssh_host_*  # cloud-init makes each VM's own
: >"$ROOT/etc/resolv.conf"
for u in "${MASKED_UNITS[@]}"; do
	ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
	find "$ROOT/etc/systemd/system" -path "*.wants/$u" -delete
done
# cloud-init renders networkd files (no ifupdown or netplan in the image)
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants" "$ROOT/etc/systemd/system/sockets.target.wants" \
	"$ROOT/etc/systemd/system/network-online.target.wants"
ln -sf /lib/systemd/system/systemd-networkd.service "$ROOT/etc/systemd/system/multi-user.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.socket "$ROOT/etc/systemd/system/sockets.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service \
	"$ROOT/etc/systemd/system/network-online.target.wants/"
ln -sf /lib/systemd/system/systemd-networkd.service "$ROOT/etc/systemd/system/dbus-org.freedesktop.network1.service"
# Debian's cloud.cfg, trimmed: only the datasources Stratus writes, only the modules a test VM needs
# (no package, locale, apt, ntp, growpart: one root filesystem without partition), one host key type.
cat >"$ROOT/etc/cloud/cloud.cfg.d/90-stratus-test-guest.cfg" <<'EOF'
# Stratus test guest (scripts/build-debian-guest.sh)
datasource_list: [NoCloud, OpenNebula, None]
ssh_genkeytypes: [ed25519]
ssh_deletekeys: true
cloud_init_modules:
  - migrator
  - seed_random
  - bootcmd
  - write-files
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - users-groups
  - ssh
cloud_config_modules:
  - set-passwords
  - runcmd
cloud_final_modules:
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - keys-to-console
  - final-message
  - power-state-change
EOF
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/debconf/*-old \
	"$ROOT"/var/log/*.log "$ROOT"/var/log/apt/*
printf 'suite=%s\nkernel=%s\ninputs=%s\n' "$SUITE" "$KVER" "$INPUTS_HASH" >"$ROOT/etc/stratus-test-guest"

# ------------------------------------------------------------ disk image
used_mib=$(du -sm "$ROOT" | cut -f1)
size_mib=$(((used_mib * 13 / 10 + 256 + 63) / 64 * 64)) # room for cloud-init, logs and tests
mkfs.ext4 -q -F -L debian-root -m 0 -E root_owner=0:0 -d "$ROOT" "$WORK/root.raw" "${size_mib}M" ||
	die "mkfs.ext4 -d failed"
qemu-img convert -q -c -f raw -O qcow2 "$WORK/root.raw" "$WORK/disk.qcow2"
rm -f "$WORK/root.raw"

# ------------------------------------------------------------ manifest
pkgver() { chroot "$ROOT" dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
{
	echo "{"
	echo "  \"format\": $FORMAT,"
	echo "  \"name\": \"stratus-debian-guest\","
	echo "  \"suite\": \"$SUITE\","
	echo "  \"kernelVersion\": \"$KVER\","
	echo "  \"cloudInitVersion\": \"$(pkgver cloud-init)\","
	echo "  \"inputsHash\": \"$INPUTS_HASH\","
	echo "  \"cmdline\": \"$CMDLINE\","
	echo "  \"loginUser\": \"debian\","
	echo "  \"kernel\": \"vmlinuz\","
	echo "  \"initrd\": \"initrd.img\","
	echo "  \"disk\": \"disk.qcow2\","
	echo "  \"rootfsMiB\": $used_mib,"
	echo "  \"builtAt\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"files\": ["
	sep=","
	for i in "${!FILES[@]}"; do
		f=${FILES[$i]}
		((i == ${#FILES[@]} - 1)) && sep=
		echo "    { \"name\": \"$f\", \"size\": $(stat -c %s "$WORK/$f"), \"sha256\": \"$(sha "$WORK/$f")\" }$sep"
	done
	echo "  ]"
	echo "}"
} >"$WORK/manifest.json"

# ------------------------------------------------------------ publish
# Each file is replaced by a rename in the same directory; the manifest goes last.
rm -f "$OUT/manifest.json"
for f in "${FILES[@]}"; do mv -f "$WORK/$f" "$OUT/$f"; done
chmod 644 "$OUT"/{vmlinuz,initrd.img,disk.qcow2}
mv -f "$WORK/manifest.json" "$OUT/manifest.json"
log "done: $OUT (root filesystem ${used_mib} MiB, disk.qcow2 $(($(stat -c %s "$OUT/disk.qcow2") / 1048576)) MiB, kernel $KVER)"
