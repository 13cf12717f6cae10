#!/bin/sh
# One lab "host" (see docs/lab.md): run by test/helpers/lab.ts as
#   ip netns exec <ns> unshare --mount --propagation private --fork sh host-init.sh <host dir> <run dir>
# inside a fresh mount namespace: joins the lab cgroups given in LAB_CGROUP_PROCS (so that this
# libvirtd's machine cgroups never collide with another daemon's), mounts the host's own /run and
# libvirt directories over the system ones, starts virtlogd, then becomes libvirtd (foreground).
set -eu
host_dir=$1
run_dir=$2
for procs in ${LAB_CGROUP_PROCS:-}; do
	echo $$ >"$procs" 2>/dev/null || echo "lab: could not join $procs" >&2
done
mount --make-rprivate /
mount --bind "$run_dir" /run
mount --bind "$host_dir/lib" /var/lib/libvirt
mount --bind "$host_dir/etc" /etc/libvirt
mount --bind "$host_dir/log" /var/log/libvirt
mount --bind "$host_dir/cache" /var/cache/libvirt
mkdir -p /run/libvirt
virtlogd --daemon
exec libvirtd --listen
