#!/bin/sh
# Stratus test guest: /init of the initramfs, run as PID 1 by busybox sh.
#
# Built into initrd.img by scripts/build-test-guest.sh; the console protocol
# (STRATUS-* lines) and the stratus.* kernel options are documented in
# docs/test-guest.md. Keep the two in step.
#
# PID 1 must never exit (the kernel would panic), so no `set -e` here: every
# step tolerates failure and reports what it can.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/root
umask 022
set -f # never glob the words of /proc/cmdline

MAGIC=STRATUS-MARKER-V1
CTX_MNT=/mnt/context
RUN=/run/stratus
CTX_VARS="SET_HOSTNAME HOSTNAME ETH0_IP ETH0_MASK ETH0_GATEWAY ETH0_DNS STRATUS_MARKER_WRITE"

# Print the value shell-quoted, so that it can be sourced back safely.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# Child mode: source an OpenNebula context.sh and re-emit, quoted, only the
# variables this init uses. Runs as `/init --context-env DIR` under timeout.
if [ "$1" = --context-env ]; then
	unset HOSTNAME
	cd "$2" || exit 1
	. ./context.sh >/dev/null 2>&1 </dev/null
	for k in $CTX_VARS; do
		eval "v=\${$k-}"
		printf '%s=%s\n' "$k" "$(shq "$v")"
	done
	exit 0
fi

mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs /run 2>/dev/null
mkdir -p "$RUN" "$CTX_MNT" /var/log
exec </dev/console >/dev/console 2>&1

# Protocol lines go to the console (ttyS0 with console=ttyS0). One write each.
say() { echo "$*"; }

# ---------------------------------------------------------------- options
# stratus.KEY=VALUE -> OPT_KEY=VALUE; a bare stratus.KEY -> OPT_KEY=1.
# Values cannot hold spaces; %XX escapes (e.g. %20) are decoded.
urldecode() {
	case "$1" in
	*%*) printf '%b' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/%\([0-9A-Fa-f][0-9A-Fa-f]\)/\\x\1/g')" ;;
	*) printf '%s' "$1" ;;
	esac
}
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	stratus.*=*) key=${arg%%=*}; val=${arg#*=} ;;
	stratus.*) key=$arg; val=1 ;;
	*) continue ;;
	esac
	key=${key#stratus.}
	case "$key" in
	*[!a-z0-9_]* | '') continue ;; # only plain names become variables
	esac
	val=$(urldecode "$val")
	eval "OPT_$key=\$val"
done
set +f

if [ -n "$OPT_debug" ] && [ "$OPT_debug" != 0 ]; then
	set -x
else
	# keep kernel chatter from interleaving with the protocol lines
	echo "1 4 1 7" >/proc/sys/kernel/printk 2>/dev/null
fi

# ---------------------------------------------------------------- modules
KVER=$(uname -r)
if [ -f /etc/stratus/modules.load ]; then
	while read -r ko; do
		[ -n "$ko" ] || continue
		insmod "/lib/modules/$KVER/$ko" 2>/dev/null
	done </etc/stratus/modules.load
fi
ip link set lo up 2>/dev/null

HOSTNAME_NOW=${OPT_hostname:-stratus-guest}
hostname "$HOSTNAME_NOW"
# leading newline: the firmware leaves the cursor mid-line on the serial port
echo
say "STRATUS-GUEST-BOOTED hostname=$HOSTNAME_NOW"

# ACPI power button: the button module turns it into an input device; busybox
# acpid maps KEY_POWER to /etc/acpi/PWRF/00000080, which powers off cleanly.
ACPID_PID=
if [ -e /dev/input/event0 ]; then
	acpid -f -c /etc/acpi -l /var/log/acpid.log -p /run/acpid.pid </dev/null >/dev/null 2>&1 &
	ACPID_PID=$!
fi

# ---------------------------------------------------------------- helpers
set_hostname() {
	# keep only characters valid in a hostname
	h=$(printf '%s' "$1" | tr -cd 'A-Za-z0-9.-' | cut -c1-63)
	[ -n "$h" ] || return 1
	hostname "$h" && HOSTNAME_NOW=$h
	echo "$h" >/etc/hostname
}

# dotted netmask or prefix length -> prefix length
mask_prefix() {
	case "$1" in
	'') echo 24 ;;
	*.*) p=$(ipcalc -p 0.0.0.0 "$1" 2>/dev/null) && echo "${p#PREFIX=}" || echo 24 ;;
	*) echo "$1" ;;
	esac
}

static_ip() { # iface ip prefix [gateway] [dns...]
	dev=$1 addr=$2 pfx=$3 gw=$4
	shift 4
	ip link set "$dev" up 2>/dev/null
	if ip addr add "$addr/$pfx" dev "$dev"; then
		[ -n "$gw" ] && ip route add default via "$gw" dev "$dev" 2>/dev/null
		if [ -n "$*" ]; then
			: >/etc/resolv.conf
			for d in $*; do echo "nameserver $d" >>/etc/resolv.conf; done
		fi
		say "STRATUS-IP $dev $addr"
		STATIC_DONE=1
	else
		say "STRATUS-IP $dev failed"
	fi
}

# iso9660 volume label of a block device, empty if it is not an ISO
iso_label() {
	[ "$(dd if="$1" bs=1 skip=32769 count=5 2>/dev/null)" = CD001 ] || return 1
	dd if="$1" bs=1 skip=32808 count=32 2>/dev/null | tr -d '\000' | sed 's/ *$//'
}

# ---------------------------------------------------------------- context
CTX_LABEL=
for dev in /dev/sr[0-9]* /dev/vd[a-z] /dev/sd[a-z]; do
	[ -b "$dev" ] || continue
	label=$(iso_label "$dev") || continue
	case "$label" in
	CONTEXT | context | cidata | CIDATA) ;;
	*) continue ;;
	esac
	if mount -t iso9660 -o ro "$dev" "$CTX_MNT" 2>/dev/null; then
		CTX_LABEL=$label
		CTX_DEV=$dev
		break
	fi
done

CTX_ENV=$RUN/context.env
: >"$CTX_ENV"
if [ -n "$CTX_LABEL" ] && [ -f "$CTX_MNT/context.sh" ]; then
	# OpenNebula: values are shell-quoted by the generator, so sourcing is
	# right; do it in a child shell with a time limit and re-emit only the
	# variables used here, quoted again.
	timeout 10 /init --context-env "$CTX_MNT" >"$CTX_ENV" 2>/dev/null </dev/null || : >"$CTX_ENV"
	. "$CTX_ENV"
	C_HOSTNAME=${SET_HOSTNAME:-$HOSTNAME}
	C_IP=$ETH0_IP
	C_MASK=$ETH0_MASK
	C_GW=$ETH0_GATEWAY
	C_DNS=$ETH0_DNS
	C_MARKER=$STRATUS_MARKER_WRITE
elif [ -n "$CTX_LABEL" ] && [ -f "$CTX_MNT/meta-data" ]; then
	# NoCloud: local-hostname from meta-data (hostname from user-data as a
	# fallback); a static address from network-config (v1 or v2) if any.
	yaml_get() { # file key
		sed -n "s/^[[:space:]]*$2:[[:space:]]*//p" "$1" 2>/dev/null | head -n 1 |
			tr -d '\r' | sed "s/^[\"']//; s/[\"'][[:space:]]*\$//; s/[[:space:]]*\$//"
	}
	C_HOSTNAME=$(yaml_get "$CTX_MNT/meta-data" local-hostname)
	[ -n "$C_HOSTNAME" ] || C_HOSTNAME=$(yaml_get "$CTX_MNT/meta-data" hostname)
	[ -n "$C_HOSTNAME" ] || C_HOSTNAME=$(yaml_get "$CTX_MNT/user-data" hostname)
	NC=$CTX_MNT/network-config
	if [ -f "$NC" ]; then
		cidr=$(grep -v '^[[:space:]]*#' "$NC" | grep -oE '[0-9]+(\.[0-9]+){3}/[0-9]+' | head -n 1)
		if [ -n "$cidr" ]; then
			C_IP=${cidr%/*}
			C_MASK=${cidr#*/}
		else
			C_IP=$(yaml_get "$NC" address | grep -oE '^[0-9]+(\.[0-9]+){3}')
			C_MASK=$(yaml_get "$NC" netmask)
		fi
		C_GW=$(yaml_get "$NC" gateway4)
		[ -n "$C_GW" ] || C_GW=$(yaml_get "$NC" gateway)
	fi
fi
if [ -n "$CTX_LABEL" ]; then
	[ -n "$C_HOSTNAME" ] && set_hostname "$C_HOSTNAME"
	say "STRATUS-CONTEXT label=$CTX_LABEL hostname=$HOSTNAME_NOW"
	if [ -n "$C_IP" ]; then
		if [ -d /sys/class/net/eth0 ]; then
			static_ip eth0 "$C_IP" "$(mask_prefix "$C_MASK")" "$C_GW" $C_DNS
		else
			say "STRATUS-IP eth0 none"
		fi
	fi
	# a marker to write may also come as a file on the CD
	if [ -z "$C_MARKER" ] && [ -f "$CTX_MNT/stratus-marker" ]; then
		C_MARKER=$(head -n 1 "$CTX_MNT/stratus-marker" | tr -d '\r')
	fi
fi

# ---------------------------------------------------------------- marker
# Sector 0 of the marker disk: "STRATUS-MARKER-V1\n<text>\n", NUL-padded.
MDEV=${OPT_marker_dev:-/dev/vda}
marker_get() {
	dd if="$MDEV" bs=512 count=1 2>/dev/null | tr -d '\000' >"$RUN/sector0"
	[ "$(head -n 1 "$RUN/sector0")" = "$MAGIC" ] || return 1
	sed -n 2p "$RUN/sector0"
}
if [ -b "$MDEV" ]; then
	if m=$(marker_get); then say "STRATUS-MARKER-FOUND $m"; fi
	for text in "$C_MARKER" "$OPT_marker_write"; do
		[ -n "$text" ] || continue
		if printf '%s\n%s\n' "$MAGIC" "$text" |
			dd of="$MDEV" bs=512 count=1 conv=sync,fsync 2>/dev/null; then
			say "STRATUS-MARKER-WRITTEN $text"
		else
			say "STRATUS-MARKER-ERROR write $MDEV"
		fi
	done
	if [ -n "$OPT_marker_read" ] && [ "$OPT_marker_read" != 0 ]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
		if m=$(marker_get); then say "STRATUS-MARKER-READ $m"; else say "STRATUS-MARKER-READ none"; fi
	fi
elif [ -n "$OPT_marker_write$C_MARKER" ] || [ -n "$OPT_marker_read" ]; then
	say "STRATUS-MARKER-ERROR nodisk $MDEV"
fi

# ---------------------------------------------------------------- DHCP
if [ -z "$STATIC_DONE" ] && [ -d /sys/class/net/eth0 ] && [ "${OPT_dhcp:-1}" != 0 ]; then
	ip link set eth0 up 2>/dev/null
	rm -f "$RUN/dhcp-ip"
	udhcpc -i eth0 -n -q -t "${OPT_dhcp_tries:-5}" -T "${OPT_dhcp_timeout:-2}" \
		-s /usr/share/stratus/udhcpc.sh >/var/log/udhcpc.log 2>&1
	if [ -s "$RUN/dhcp-ip" ]; then
		say "STRATUS-DHCP eth0 $(cat "$RUN/dhcp-ip")"
	else
		say "STRATUS-DHCP eth0 none"
	fi
fi

# ---------------------------------------------------------------- block devices
# stratus.list_disks prints every virtio disk as the guest sees it (size in
# 512-byte sectors, read-only flag, serial); stratus.swap makes the disk whose
# serial is stratus-swap (the swap disk of a Stratus instance type) a swap
# area and enables it.
if [ -n "$OPT_list_disks$OPT_swap" ] && [ "${OPT_list_disks:-1}" != 0 ]; then
	for b in /sys/block/vd*; do
		[ -e "$b" ] || continue
		serial=$(cat "$b/serial" 2>/dev/null)
		say "STRATUS-BLOCK ${b##*/} sectors=$(cat "$b/size") ro=$(cat "$b/ro") serial=${serial:--}"
	done
fi
if [ -n "$OPT_swap" ] && [ "$OPT_swap" != 0 ]; then
	swapdev=
	for b in /sys/block/vd*; do
		[ "$(cat "$b/serial" 2>/dev/null)" = stratus-swap ] && swapdev=/dev/${b##*/}
	done
	if [ -z "$swapdev" ]; then
		say "STRATUS-SWAP none"
	elif mkswap "$swapdev" >/dev/null 2>&1 && swapon "$swapdev" 2>/dev/null; then
		say "STRATUS-SWAP ${swapdev#/dev/} on $(awk 'NR == 2 { print $3 }' /proc/swaps)"
	else
		say "STRATUS-SWAP ${swapdev#/dev/} failed"
	fi
fi

# ---------------------------------------------------------------- ACPI
# Make sure acpid listens before READY: a power button press that comes
# earlier is lost (the host then has to fall back to destroying the VM).
if [ -n "$ACPID_PID" ]; then
	i=0
	while [ $i -lt 50 ] && ! ls -l /proc/$ACPID_PID/fd 2>/dev/null | grep -q /dev/input/event; do
		usleep 20000
		i=$((i + 1))
	done
fi

say "STRATUS-GUEST-READY"

# ---------------------------------------------------------------- disk watch
# Hot-plug seen from inside: stratus.watch_disks reports virtio disks that appear
# or go away (polled every 0.5 s), with the marker a new disk carries;
# stratus.watch_write=<text> also writes that marker to each new disk.
# stratus.io_probe=<dev> writes a counter to sector 1 of <dev> every
# stratus.io_probe_s seconds (default 1), re-reads it past the cache and prints
# the result: I/O that keeps working across a storage restart shows up here.
sector_marker() { # dev tag -> the marker text of sector 0 (tag: a scratch file per caller)
	dd if="$1" bs=512 count=1 2>/dev/null | tr -d '\000' >"$RUN/sector0.$2"
	[ "$(head -n 1 "$RUN/sector0.$2")" = "$MAGIC" ] || return 1
	sed -n 2p "$RUN/sector0.$2"
}
vdisks() { ls /sys/block 2>/dev/null | grep '^vd' | tr '\n' ' '; }
if [ -n "$OPT_watch_disks$OPT_watch_write" ] && [ "${OPT_watch_disks:-1}" != 0 ]; then
	(
		known=$(vdisks)
		while true; do
			usleep 500000
			now=$(vdisks)
			for d in $now; do
				case " $known " in *" $d "*) continue ;; esac
				say "STRATUS-DISK-ADDED $d"
				if m=$(sector_marker "/dev/$d" watch); then say "STRATUS-DISK-MARKER $d $m"; fi
				if [ -n "$OPT_watch_write" ]; then
					if printf '%s\n%s\n' "$MAGIC" "$OPT_watch_write" |
						dd of="/dev/$d" bs=512 count=1 conv=sync,fsync 2>/dev/null; then
						say "STRATUS-DISK-WRITTEN $d $OPT_watch_write"
					else
						say "STRATUS-DISK-ERROR write $d"
					fi
				fi
			done
			for d in $known; do
				case " $now " in *" $d "*) ;; *) say "STRATUS-DISK-REMOVED $d" ;; esac
			done
			known=$now
		done
	) &
fi
if [ -n "$OPT_io_probe" ]; then
	(
		n=0
		while true; do
			sleep "${OPT_io_probe_s:-1}"
			[ -b "$OPT_io_probe" ] || continue
			n=$((n + 1))
			dev=${OPT_io_probe#/dev/}
			if printf 'STRATUS-IO-V1\n%s\n' "$n" | dd of="$OPT_io_probe" bs=512 seek=1 count=1 conv=sync,fsync 2>/dev/null &&
				echo 3 >/proc/sys/vm/drop_caches &&
				[ "$(dd if="$OPT_io_probe" bs=512 skip=1 count=1 2>/dev/null | tr -d '\000' | sed -n 2p)" = "$n" ]; then
				m=$(sector_marker "$OPT_io_probe" probe) || m=none
				say "STRATUS-IO $dev ok $n $m"
			else
				say "STRATUS-IO $dev error $n"
			fi
		done
	) &
fi

if [ -n "$OPT_poweroff" ] && [ "$OPT_poweroff" != 0 ]; then
	/etc/stratus/shutdown.sh cmdline
fi

# ---------------------------------------------------------------- stay up
# A root shell on the console, respawned for as long as the VM lives.
if [ "${OPT_shell:-1}" = 0 ]; then
	while true; do sleep 3600; done
fi
while true; do
	setsid cttyhack sh -l
	sleep 1
done
