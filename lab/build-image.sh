#!/usr/bin/env bash
# Builds the lab's systemd image with debootstrap, once: the image carries a label naming the
# recipe that built it, and a matching image is reused.
#   lab/build-image.sh [SUITE]   (bookworm by default; trixie works too)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

suite="${1:-bookworm}"
packages="python3,iproute2,iputils-ping,traceroute,systemd,systemd-sysv,procps,sudo,openssh-server,apt-utils,nftables,netbase"
recipe_version=3
recipe="$(printf '%s|%s|%s' "$recipe_version" "$suite" "$packages" | sha256sum | cut -c1-12)"
image="localhost/wgmesh-lab:$suite"

if [[ "$(podman image inspect --format '{{ index .Labels "wgmesh.recipe" }}' "$image" 2>/dev/null)" == "$recipe" ]]; then
  echo "lab: image $image is current (recipe $recipe)"
  exit 0
fi

rootfs="$(mktemp -d /var/tmp/wgmesh-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "lab: building $image with debootstrap (about a minute, once)"
# On screen: debootstrap's stages, and a dot per 10 packages fetched, unpacked or set up.
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" http://deb.debian.org/debian 2>&1 \
    | tee "$rootfs.log" | awk '/^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [a-z0-9]/ && !/ the / {
        if (++n % 10 == 0) { printf "."; dots = 1; fflush() } next }
      /^I: / { if (dots) print ""; n = dots = 0; print "lab:   " substr($0, 4); fflush() }
      END { if (dots) print "" }'; then
  tail -20 "$rootfs.log"
  exit 1
fi
rm -f "$rootfs.log"

# Containers get their identity at first boot, not from the image.
: > "$rootfs/etc/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d"
cat > "$rootfs/etc/systemd/system/ssh.service.d/hostkeys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
# Units that make no sense in a container and slow its boot.
for unit in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Package lists stay, as on a real server; downloaded .debs go.
chroot "$rootfs" apt-get update -qq >/dev/null 2>&1
chroot "$rootfs" apt-get clean

tar -C "$rootfs" -c . | podman import --change "LABEL wgmesh.recipe=$recipe" \
  --change 'CMD ["/sbin/init"]' - "$image" >/dev/null 2>&1
echo "lab: built $image (recipe $recipe)"
