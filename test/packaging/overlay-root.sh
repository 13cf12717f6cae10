#!/usr/bin/env bash
# Runs one command in a throw-away copy of this host's root filesystem, so that packages can really be
# installed, upgraded, removed and purged without touching the host or the other tests: an overlayfs
# whose lower layer is / and whose upper layer is STATE/upper (kept between calls, so a sequence of
# steps sees its own changes), mounted in a private mount namespace that vanishes with the command.
#
#   overlay-root.sh STATE PKGDIR chroot CMD [ARGS...]   CMD chrooted into the copy
#   overlay-root.sh STATE PKGDIR rpm ARGS...            rpm --root <copy> ARGS (rpm chroots for scriptlets)
#
# PKGDIR is bind-mounted read-only at /mnt/packages inside the copy; /proc, /dev and /run/libvirt (the
# running libvirtd's sockets) are the host's.
set -euo pipefail

if [ "${1:-}" != --inside ]; then
  state=$1
  mkdir -p "$state/upper" "$state/work" "$state/root"
  exec unshare --mount --propagation private -- "$0" --inside "$@"
fi
shift
state=$1 pkgdir=$2 mode=$3
shift 3
root=$state/root
mount -t overlay stratus-pkgtest -o "lowerdir=/,upperdir=$state/upper,workdir=$state/work" "$root"
mount --rbind /proc "$root/proc"
mount --rbind /dev "$root/dev"
# the live libvirtd's sockets (a socket seen through overlayfs does not reach its listener)
if [ -d /run/libvirt ]; then mount --rbind /run/libvirt "$root/run/libvirt"; fi
mkdir -p "$root/mnt/packages"
mount --bind "$pkgdir" "$root/mnt/packages"
mount -o remount,bind,ro "$root/mnt/packages"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
case "$mode" in
  chroot) exec chroot "$root" "$@" ;;
  rpm) exec rpm --root "$root" "$@" ;;
  *) echo "overlay-root.sh: unknown mode $mode" >&2; exit 2 ;;
esac
