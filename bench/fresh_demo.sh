#!/usr/bin/env bash
# `make demo` on a bare Debian 12, as a new user runs it: debootstrap a minimal bookworm (with make,
# git and ca-certificates, which the README's first command assumes), clone this checkout into it,
# and time `make demo` inside the chroot: apt's share (packages, download, disk) and the whole.
# Needs root, debootstrap (apt-get install debootstrap) and network access to deb.debian.org.
# Other processes slow the build: read the load printed before and after.
#   sudo bash bench/fresh_demo.sh [WORK_DIR]   (default: a fresh folder under /var/tmp, removed)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap and chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "install debootstrap first" >&2; exit 2; }
work=${1:-$(mktemp -d /var/tmp/fresh_demo.XXXXXX)}
root=$work/root
cleanup() {
  for m in sys dev proc; do umount -R "$root/$m" 2>/dev/null || true; done
  # Only after every mount is gone: never delete through a bind mount of the host's /dev.
  if [ -z "${1:-}" ] && ! mount | grep -q " $root/"; then rm -rf --one-file-system "$work"; fi
}
trap 'cleanup "${1:-}"' EXIT
debootstrap --variant=minbase --include=make,git,ca-certificates bookworm "$root" \
  http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
git clone -q "$PWD" "$root/root/woundphase"
echo "commit: $(git -C "$root/root/woundphase" log --oneline -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
chroot "$root" /bin/bash -c 'cd /root/woundphase && DEBIAN_FRONTEND=noninteractive make demo' \
  >"$work/demo.log" 2>&1 &
pid=$!
# apt's share ends when CMake starts configuring.
while kill -0 "$pid" 2>/dev/null && ! grep -q -- '-- The CXX compiler' "$work/demo.log"; do sleep 1; done
apt_end=$(date +%s)
rc=0
wait "$pid" || rc=$?
end=$(date +%s)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E 'newly installed|Need to get|After this operation' "$work/demo.log" || true
echo "apt (setup.sh build group): $((apt_end - start)) s"
echo "configure, build and demo search: $((end - apt_end)) s"
grep -o 'search finished in [0-9.]* s' "$work/demo.log" || true
echo "make demo: exit $rc, $((end - start)) s"
exit $rc
