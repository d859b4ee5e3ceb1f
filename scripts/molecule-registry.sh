#!/usr/bin/env bash
# Runs the registry scenario (Rocky Linux 9, AlmaLinux 9, Ubuntu 24.04 images from a container
# registry) with molecule's podman or docker driver, when its images can be had:
#   scripts/molecule-registry.sh podman|docker
# WGMESH_REGISTRY_IMAGES=1 (the Makefile's default) selects it, 0 deselects it. Exit 77 and a
# line "SKIPPED: ..." saying why when it is deselected or an image cannot be pulled (as on a
# build machine that reaches no registry): a skip, never a pass. Images: molecule.yml's
# defaults, or WGMESH_IMAGE_ROCKY9, WGMESH_IMAGE_ALMA9, WGMESH_IMAGE_UBUNTU2404.
set -euo pipefail
cd "$(dirname "$0")/.."
driver="${1:-podman}"
case $driver in
  podman) scenario=registry; engine=(podman) ;;
  docker) scenario=registry-docker; engine=(/usr/bin/docker) ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
what="molecule/$scenario ($driver driver; Rocky Linux 9, AlmaLinux 9, Ubuntu 24.04)"
if [[ "${WGMESH_REGISTRY_IMAGES:-1}" != 1 ]]; then
  echo "SKIPPED: $what: not selected (WGMESH_REGISTRY_IMAGES=${WGMESH_REGISTRY_IMAGES}); set it to 1 to run it"
  exit 77
fi

# The images: each variable's value, else its default in molecule.yml (one place for both).
missing=()
while read -r variable default; do
  image="${!variable:-$default}"
  if "${engine[@]}" image inspect "$image" >/dev/null 2>&1; then continue; fi
  echo "registry: pulling $image"
  if ! error=$(timeout 600 "${engine[@]}" pull -q "$image" 2>&1 >/dev/null); then
    missing+=("$image (${variable}): $(echo "$error" | grep -v '^Trying' | tail -1)")
  fi
done < <(sed -n 's/.*image: \${\(WGMESH_IMAGE_[A-Z0-9]*\):-\(.*\)}$/\1 \2/p' "molecule/$scenario/molecule.yml")
if ((${#missing[@]})); then
  echo "SKIPPED: $what: NOT TESTED, its images cannot be had here:"
  printf '  - %s\n' "${missing[@]}"
  echo "  (On the project's build machine no container registry is reachable, only Debian's"
  echo "  archive, and these distributions cannot be bootstrapped locally.) Run it where the"
  echo "  images can be pulled, or point WGMESH_IMAGE_* at images present locally."
  exit 77
fi
exec molecule test -s "$scenario"
