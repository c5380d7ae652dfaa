#!/bin/busybox sh
# /init of the systemd test VM (see run.sh): the initramfs is rootfs, which
# pivot_root(2) cannot leave, so copy it onto a tmpfs and hand that over to
# Debian's systemd as PID 1.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /newroot
mount -t tmpfs -o mode=0755 root /newroot
for f in /*; do
    [ "$f" = /newroot ] || [ "$f" = /init ] || cp -a "$f" /newroot/
done
exec switch_root /newroot /lib/systemd/systemd
