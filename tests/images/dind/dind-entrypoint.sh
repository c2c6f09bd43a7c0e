#!/bin/sh
# Entrypoint of dff-test/dind: make a non-privileged container able to run dockerd, start it, exec CMD.
#  1. /sys read-write
#  2. drop docker's read-only overlays on /proc/{sys,sysrq-trigger,irq,bus,fs} (what systempaths=unconfined does)
#  3. cgroup v1: remount every controller bind mount read-write
#  4. widen our device cgroup (instead of --device-cgroup-rule='a *:* rwm')
#  5. dockerd in the background (unless DIND_DISABLE=1), then exec "$@"
# Env: DIND_STORAGE_DRIVER (overlay2), DIND_EXTRA_ARGS, DIND_DISABLE
mount -o remount,rw /sys 2>/dev/null || true
for p in /proc/sys /proc/sysrq-trigger /proc/irq /proc/bus /proc/fs; do
  if grep -q " $p " /proc/self/mounts; then umount "$p" 2>/dev/null || true; fi
done
if [ -d /sys/fs/cgroup ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
  for c in /sys/fs/cgroup/*; do
    if mountpoint -q "$c"; then mount -o remount,bind,rw "$c" 2>/dev/null || true; fi
  done
  if [ -w /sys/fs/cgroup/devices/devices.allow ]; then echo a > /sys/fs/cgroup/devices/devices.allow 2>/dev/null || true; fi
fi
mountpoint -q /sys/kernel/security 2>/dev/null || mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
if [ "${DIND_DISABLE:-0}" != 1 ]; then
  # shellcheck disable=SC2086
  nohup dockerd --storage-driver="${DIND_STORAGE_DRIVER:-overlay2}" ${DIND_EXTRA_ARGS:-} >/var/log/dockerd.log 2>&1 &
fi
exec "$@"
