#!/usr/bin/env bash
# Build the Stratus test guest from Debian packages only (no downloaded images):
#   vmlinuz      kernel of linux-image-cloud-amd64
#   initrd.img   busybox-static + a few kernel modules + scripts/guest/init.sh
#   disk.qcow2   16 MiB empty qcow2 data disk (a base "image" for tests)
#   disk.raw     1 MiB empty raw data disk
#   manifest.json
# into $STRATUS_GUEST_DIR (default /var/cache/stratus/test-guest).
#
# Idempotent: rebuilds only when an input changed (this script, init.sh, the
# kernel, busybox) or an output is missing/altered. Safe to run concurrently
# (flock). Options: --force (rebuild anyway), --quiet, --print-dir.
# See docs/test-guest.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
INIT_SRC="$SCRIPT_DIR/guest/init.sh"
OUT=${STRATUS_GUEST_DIR:-/var/cache/stratus/test-guest}
FORMAT=1
CMDLINE="console=ttyS0 quiet panic=-1"
# Modules wanted in the guest (skipped when built in or absent in the kernel).
WANTED_MODULES=(
	virtio_pci virtio_blk virtio_net virtio_console virtio_scsi
	ata_piix ata_generic sd_mod sr_mod cdrom isofs nls_utf8
	ext4 ext2 af_packet button evdev
)

FORCE=0 QUIET=0
for a in "$@"; do
	case "$a" in
	--force) FORCE=1 ;;
	--quiet | -q) QUIET=1 ;;
	--print-dir) echo "$OUT"; exit 0 ;;
	-h | --help) sed -n '2,13p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "build-test-guest: unknown option $a" >&2; exit 2 ;;
	esac
done

log() { [[ $QUIET = 1 ]] || echo "build-test-guest: $*" >&2; }
die() { echo "build-test-guest: error: $*" >&2; exit 1; }

# ------------------------------------------------------------ host packages
apt_install() {
	[[ $(id -u) = 0 ]] || die "missing packages ($*) and not root to install them"
	log "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" >&2 ||
		{ apt-get update -q >&2 && apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "$@" >&2; } ||
		die "apt-get install $* failed"
}

find_kernel() {
	local v
	# shellcheck disable=SC2012
	for v in $(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -rV); do
		if [[ -d /lib/modules/$v ]]; then echo "$v"; return 0; fi
	done
	return 1
}

ensure_host_tools() {
	local pkgs=()
	dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || pkgs+=(busybox-static)
	command -v qemu-img >/dev/null || pkgs+=(qemu-utils)
	command -v cpio >/dev/null || pkgs+=(cpio)
	command -v gzip >/dev/null || pkgs+=(gzip)
	command -v flock >/dev/null || pkgs+=(util-linux)
	find_kernel >/dev/null || pkgs+=(linux-image-cloud-amd64)
	if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi
}

ensure_host_tools
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock -w 900 9 || die "timed out waiting for the lock on $OUT/.lock"

KVER=${STRATUS_GUEST_KERNEL_VERSION:-$(find_kernel)} || die "no /boot/vmlinuz-*-cloud-amd64 with modules"
KERNEL=/boot/vmlinuz-$KVER
MODDIR=/lib/modules/$KVER
[[ -r $KERNEL && -f $MODDIR/modules.dep ]] || die "kernel $KVER incomplete ($KERNEL, $MODDIR/modules.dep)"
BUSYBOX=$(command -v busybox)
file -L "$BUSYBOX" 2>/dev/null | grep -q 'dynamically linked' && die "$BUSYBOX is not static (install busybox-static)"

sha() { sha256sum "$1" | cut -d' ' -f1; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }

KPKG=$(dpkg-query -S "$KERNEL" 2>/dev/null | cut -d: -f1 | head -n 1) || true
KPKG_VER=$(pkgver "${KPKG:-linux-image-$KVER}")
BB_VER=$(pkgver busybox-static)
INPUTS_HASH=$(
	{
		echo "format=$FORMAT kver=$KVER"
		sha "$SELF"
		sha "$INIT_SRC"
		sha "$KERNEL"
		sha "$BUSYBOX"
		sha "$MODDIR/modules.dep"
	} | sha256sum | cut -d' ' -f1
)

# ------------------------------------------------------------ up to date?
FILES=(vmlinuz initrd.img disk.qcow2 disk.raw)
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
		[[ $(sha "$OUT/$f") = "$sum" ]] || return 1
	done
}
if [[ $FORCE = 0 ]] && up_to_date; then
	log "up to date in $OUT (kernel $KVER)"
	exit 0
fi
log "building in $OUT (kernel $KVER)"

WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/share/stratus,etc/stratus,etc/acpi/PWRF} \
	"$ROOT"/{dev,proc,sys,run,tmp,root,mnt/context,var/log,lib/modules/"$KVER"}
chmod 1777 "$ROOT/tmp"
chmod 700 "$ROOT/root"

# ------------------------------------------------------------ busybox
install -m 755 "$BUSYBOX" "$ROOT/bin/busybox"
while read -r applet; do
	[[ -n $applet && $applet != bin/busybox && $applet != linuxrc ]] || continue
	mkdir -p "$ROOT/$(dirname "$applet")"
	[[ -e $ROOT/$applet ]] || ln -s /bin/busybox "$ROOT/$applet"
done < <("$BUSYBOX" --list-full)

# ------------------------------------------------------------ kernel modules
declare -A DEP_OF PATH_OF BUILTIN SEEN
while IFS= read -r line; do
	mod=${line%%:*}
	name=${mod##*/}
	name=${name%%.ko*}
	name=${name//-/_}
	PATH_OF[$name]=$mod
	DEP_OF[$name]=${line#*:}
done <"$MODDIR/modules.dep"
while IFS= read -r mod; do
	name=${mod##*/}
	name=${name%%.ko*}
	BUILTIN[${name//-/_}]=1
done <"$MODDIR/modules.builtin"

LOAD_ORDER=()
add_module() {
	local n=${1//-/_} d dn
	[[ -z ${SEEN[$n]:-} ]] || return 0
	SEEN[$n]=1
	if [[ -n ${BUILTIN[$n]:-} ]]; then
		log "module $n: built into the kernel"
		return 0
	fi
	if [[ -z ${PATH_OF[$n]:-} ]]; then
		log "module $n: not in kernel $KVER, skipped"
		return 0
	fi
	for d in ${DEP_OF[$n]}; do
		dn=${d##*/}
		add_module "${dn%%.ko*}"
	done
	LOAD_ORDER+=("$n")
}
for m in "${WANTED_MODULES[@]}"; do add_module "$m"; done

: >"$ROOT/etc/stratus/modules.load"
for n in "${LOAD_ORDER[@]}"; do
	src=$MODDIR/${PATH_OF[$n]}
	rel=${PATH_OF[$n]%.ko*}.ko
	mkdir -p "$ROOT/lib/modules/$KVER/$(dirname "$rel")"
	case "$src" in
	*.ko) cp "$src" "$ROOT/lib/modules/$KVER/$rel" ;;
	*.ko.xz) xz -dc "$src" >"$ROOT/lib/modules/$KVER/$rel" ;;
	*.ko.zst) zstd -q -dc "$src" >"$ROOT/lib/modules/$KVER/$rel" ;;
	*.ko.gz) gzip -dc "$src" >"$ROOT/lib/modules/$KVER/$rel" ;;
	*) die "unknown module format: $src" ;;
	esac
	echo "$rel" >>"$ROOT/etc/stratus/modules.load"
done
# modules.dep etc. for the shipped subset, so busybox modprobe works too
cp "$MODDIR/modules.builtin" "$ROOT/lib/modules/$KVER/"
"$BUSYBOX" depmod -b "$ROOT" "$KVER" 2>/dev/null ||
	log "busybox depmod failed; modprobe inside the guest will not work (insmod does)"
log "modules: ${LOAD_ORDER[*]}"

# ------------------------------------------------------------ init + helpers
install -m 755 "$INIT_SRC" "$ROOT/init"

cat >"$ROOT/usr/share/stratus/udhcpc.sh" <<'EOF'
#!/bin/sh
# udhcpc event script of the Stratus test guest
case "$1" in
deconfig)
	ip addr flush dev "$interface" 2>/dev/null
	ip link set "$interface" up
	;;
bound | renew)
	ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
	if [ -n "$router" ]; then
		while ip route del default dev "$interface" 2>/dev/null; do :; done
		for r in $router; do ip route add default via "$r" dev "$interface" && break; done
	fi
	if [ -n "$dns" ]; then
		: >/etc/resolv.conf
		for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	fi
	echo "$ip" >/run/stratus/dhcp-ip
	;;
esac
exit 0
EOF
chmod 755 "$ROOT/usr/share/stratus/udhcpc.sh"

cat >"$ROOT/etc/stratus/shutdown.sh" <<'EOF'
#!/bin/sh
# Clean power-off of the Stratus test guest: $1 = why (acpi, cmdline, ...)
printf "\nSTRATUS-SHUTDOWN %s\n" "${1:-request}" >/dev/console
sync
umount /mnt/context 2>/dev/null
poweroff -f
EOF
chmod 755 "$ROOT/etc/stratus/shutdown.sh"

# busybox acpid: KEY_POWER -> action PWRF/00000080 (relative to /etc/acpi)
cat >"$ROOT/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
exec /etc/stratus/shutdown.sh acpi
EOF
chmod 755 "$ROOT/etc/acpi/PWRF/00000080"

echo stratus-guest >"$ROOT/etc/hostname"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\n' >"$ROOT/etc/group"
printf 'export PS1="\\h:\\w# "\n' >"$ROOT/etc/profile"
: >"$ROOT/etc/resolv.conf"
printf 'kernel=%s\ninputs=%s\n' "$KVER" "$INPUTS_HASH" >"$ROOT/etc/stratus/build-info"
# the kernel opens /dev/console before /init mounts devtmpfs
if [[ $(id -u) = 0 ]]; then
	mknod -m 600 "$ROOT/dev/console" c 5 1
	mknod -m 666 "$ROOT/dev/null" c 1 3
fi

# ------------------------------------------------------------ initramfs
# Reproducible: sorted names, fixed owner and mtime, gzip without name/time.
find "$ROOT" -exec touch -h -d @0 {} +
(
	cd "$ROOT"
	find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible
) | gzip -n -6 >"$WORK/initrd.img"

# ------------------------------------------------------------ kernel, disks
cp "$KERNEL" "$WORK/vmlinuz"
qemu-img create -q -f qcow2 "$WORK/disk.qcow2" 16M
qemu-img create -q -f raw "$WORK/disk.raw" 1M

# ------------------------------------------------------------ manifest
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
{
	echo "{"
	echo "  \"format\": $FORMAT,"
	echo "  \"name\": \"stratus-test-guest\","
	echo "  \"kernelVersion\": $(json_str "$KVER"),"
	echo "  \"kernelPackage\": $(json_str "${KPKG:-unknown}=$KPKG_VER"),"
	echo "  \"busyboxVersion\": $(json_str "$BB_VER"),"
	echo "  \"inputsHash\": \"$INPUTS_HASH\","
	echo "  \"cmdline\": $(json_str "$CMDLINE"),"
	echo "  \"kernel\": \"vmlinuz\","
	echo "  \"initrd\": \"initrd.img\","
	echo "  \"disks\": { \"qcow2\": \"disk.qcow2\", \"raw\": \"disk.raw\" },"
	printf '  "modules": ['
	sep=
	for n in "${LOAD_ORDER[@]}"; do printf '%s"%s"' "$sep" "$n"; sep=", "; done
	echo "],"
	echo "  \"builtAt\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "  \"files\": ["
	sep=","
	for i in "${!FILES[@]}"; do
		f=${FILES[$i]}
		((i == ${#FILES[@]} - 1)) && sep=
		fmt=raw
		case "$f" in vmlinuz) fmt=kernel ;; initrd.img) fmt=initramfs-cpio-gzip ;; disk.qcow2) fmt=qcow2 ;; esac
		if [[ $fmt = qcow2 || $fmt = raw ]]; then
			vsize=$(qemu-img info --output=json "$WORK/$f" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
			extra=", \"virtualSize\": $vsize"
		else
			extra=
		fi
		echo "    { \"name\": \"$f\", \"format\": \"$fmt\", \"size\": $(stat -c %s "$WORK/$f"), \"sha256\": \"$(sha "$WORK/$f")\"$extra }$sep"
	done
	echo "  ]"
	echo "}"
} >"$WORK/manifest.json"

# ------------------------------------------------------------ publish
# Each file is replaced atomically (rename in the same directory); the
# manifest goes last, so a complete manifest always describes the files.
rm -f "$OUT/manifest.json"
for f in "${FILES[@]}"; do mv -f "$WORK/$f" "$OUT/$f"; done
chmod 644 "$OUT"/{vmlinuz,initrd.img,disk.qcow2,disk.raw}
mv -f "$WORK/manifest.json" "$OUT/manifest.json"
log "done: $OUT ($(stat -c %s "$OUT/initrd.img") bytes of initrd, kernel $KVER)"
