#!/usr/bin/env bash
# Builds the execution environment of execution-environment.yml with ansible-builder, then runs
# the site playbook from inside it against the lab with ansible-runner, as AWX runs a job (the
# project, inventory and SSH key in a private data directory, the playbook in the image): twice,
# and the second run must change nothing. Needs the lab (make lab-up); log in lab/state/ee.log.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/lab/containers.conf}"
build=build/ee
runner=lab/state/ee-runner
image=localhost/wgmesh-ee:latest
mkdir -p lab/state
exec > >(tee lab/state/ee.log) 2>&1

if [[ ! -x .venv-ee/bin/ansible-builder || requirements-ee.txt -nt .venv-ee/.installed ]]; then
  echo "== .venv-ee from requirements-ee.txt (ansible-builder, ansible-runner)"
  python3 -m venv .venv-ee
  .venv-ee/bin/pip install -q --upgrade pip
  .venv-ee/bin/pip install -q -r requirements-ee.txt
  touch .venv-ee/.installed
fi

echo "== base image localhost/wgmesh-ee-base:bookworm (the lab's Debian image + pip, lab/ee/)"
bash lab/build-image.sh
rm -rf "$build"
mkdir -p "$build/base"
cp lab/ee/Containerfile lab/ee/pkgmgr-apt "$build/base/"
cp /etc/ssl/certs/ca-certificates.crt "$build/base/ca-bundle.crt"
podman build -q -t localhost/wgmesh-ee-base:bookworm "$build/base" >/dev/null

echo "== collections for the image: this collection's tarball, community.general from the ansible package"
mkdir -p "$build/collections/ansible_collections/community"
ansible-galaxy collection build --force --output-path "$build" . >/dev/null
ansible-galaxy collection install --force --no-deps -p "$build/collections" "$build"/wgmesh-wireguard-*.tar.gz >/dev/null
general=$(python3 -c 'import ansible, os; print(os.path.join(os.path.dirname(os.path.dirname(ansible.__file__)),
                      "ansible_collections", "community", "general"))')
cp -a "$general" "$build/collections/ansible_collections/community/general"

echo "== ansible-builder build ($image)"
started=$(date +%s)
.venv-ee/bin/ansible-builder build -f execution-environment.yml --context "$build/context" --container-runtime podman -v 1
echo "built in $(( $(date +%s) - started )) s; $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
podman run --rm "$image" ansible-galaxy collection list wgmesh.wireguard | tail -n 1

rm -rf "$runner"
mkdir -p "$runner/project" "$runner/inventory/group_vars" "$runner/env"
cp inventories/lab/hosts.yml "$runner/inventory/hosts.yml"
printf -- '---\nansible_user: root\n' > "$runner/inventory/group_vars/wireguard_mesh.yml"
printf -- '---\n- name: The collection'"'"'s site playbook, from the image\n  ansible.builtin.import_playbook: wgmesh.wireguard.site\n' \
  > "$runner/project/site.yml"
cp lab/state/id_ed25519 "$runner/env/ssh_key"
printf -- '---\nANSIBLE_HOST_KEY_CHECKING: "False"\nANSIBLE_PIPELINING: "True"\nANSIBLE_FORCE_COLOR: "0"\n' \
  > "$runner/env/envvars"

for run in 1 2; do
  echo "== ansible-runner run: site from inside $image (run $run)"
  rc=0
  .venv-ee/bin/ansible-runner run "$runner" -p site.yml --ident "site-$run" --container-image "$image" \
    --process-isolation --process-isolation-executable podman --container-option=--network=host \
    --container-option=--user=0 || rc=$?
  recap=$(sed -n '/PLAY RECAP/,$p' "$runner/artifacts/site-$run/stdout")
  if ((rc != 0)); then echo "ee: run $run failed (rc=$rc)"; exit 1; fi
  if ((run == 2)) && grep -Eq 'changed=[1-9]' <<<"$recap"; then echo "ee: the second run changed something"; exit 1; fi
done
echo "ee: site ran from the execution environment twice, the second run changed nothing"
