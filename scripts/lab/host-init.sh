#!/bin/sh
# One lab "host" (see docs/lab.md), started by test/helpers/lab.ts as
#   sh host-init.sh <netns> <host dir> <run dir>
# First joins the lab cgroups listed in LAB_CGROUP_PROCS (so that this libvirtd's machine cgroups never
# collide with another daemon's; before entering the namespace, whose /sys has no cgroup mounts), then
# re-runs itself as `ip netns exec <netns> unshare --mount --fork`: in that fresh mount namespace it mounts
# the host's own /run and libvirt directories over the system ones, starts virtlogd, then becomes libvirtd
# (foreground). Both run through symlinks named slab-virtlogd and slab-libvirtd, so that `pgrep -x libvirtd`
# (tests that restart the host's daemon, setup-host.sh) never finds the lab's.
set -eu
if [ "${1:-}" != --inside ]; then
	for procs in ${LAB_CGROUP_PROCS:-}; do
		echo $$ >"$procs" 2>/dev/null || echo "lab: could not join $procs" >&2
	done
	exec ip netns exec "$1" unshare --mount --propagation private --fork sh "$0" --inside "$2" "$3"
fi
host_dir=$2
run_dir=$3
mkdir -p "$host_dir/bin"
ln -sf "$(command -v libvirtd)" "$host_dir/bin/slab-libvirtd"
ln -sf "$(command -v virtlogd)" "$host_dir/bin/slab-virtlogd"
mount --make-rprivate /
mount --bind "$run_dir" /run
mount --bind "$host_dir/lib" /var/lib/libvirt
mount --bind "$host_dir/etc" /etc/libvirt
mount --bind "$host_dir/log" /var/log/libvirt
mount --bind "$host_dir/cache" /var/cache/libvirt
mkdir -p /run/libvirt
"$host_dir/bin/slab-virtlogd" --daemon
exec "$host_dir/bin/slab-libvirtd" --listen
