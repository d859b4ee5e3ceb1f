#!/usr/bin/env bash
# Run `ansible-test sanity` or `ansible-test units` on a clean copy of the collection, offline.
#
# ansible-test needs the tree at .../ansible_collections/<namespace>/<name>, so this copies the
# files git knows (tracked, plus untracked files that are not ignored) to
# build/ansible_collections/wgmesh/wireguard and runs the tests there (sanity with no ignore file).
#
# Offline: ansible-test bootstraps pip in its venvs with a script it downloads from a host that is
# not reachable here; it first looks in ~/.ansible/test/cache/get_pip_<pip version>.py. This script
# installs a stand-in there that bootstraps pip with ensurepip and then runs
# `python -m pip install --upgrade <its arguments>` (pip is configured by /etc/pip.conf).
#
# Usage: scripts/ansible-test.sh sanity|units [extra ansible-test arguments, e.g. --test pylint]
set -euo pipefail
COMMAND="${1:?usage: scripts/ansible-test.sh sanity|units [arguments]}"
shift
case "$COMMAND" in sanity|units) ;; *) echo "ansible-test.sh: sanity or units, not $COMMAND" >&2; exit 2 ;; esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON_VERSION="${PYTHON_VERSION:-3.11}"
BUILD="$ROOT/build/ansible_collections/wgmesh/wireguard"
ANSIBLE_TEST="$VENV/bin/ansible-test"

[ -x "$ANSIBLE_TEST" ] || { echo "ansible-test.sh: $ANSIBLE_TEST not found; create the venv first (make venv)" >&2; exit 2; }

# The pip version ansible-test bootstraps (get_venv_packages in python_requirements.py).
PIP_VERSION="$("$VENV/bin/python" - <<'EOF'
import re, ansible_test, os
path = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
with open(path) as f:
    match = re.search(r"pip='([0-9.]+)'", f.read())
print(match.group(1) if match else '24.2')
EOF
)"
CACHE="$HOME/.ansible/test/cache"
STANDIN="$CACHE/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$CACHE"
if [ ! -f "$STANDIN" ] || ! grep -q 'wgmesh offline stand-in' "$STANDIN"; then
    cat > "$STANDIN" <<'EOF'
"""wgmesh offline stand-in for get-pip.py: ensurepip, then pip install --upgrade <arguments>."""
import os
import subprocess
import sys

ENV = dict(os.environ)  # ensurepip turns pip's configuration off in os.environ: keep the original
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def main():
    import ensurepip
    ensurepip.bootstrap(upgrade=True)
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--upgrade'] + args, env=ENV))


if __name__ == '__main__':
    main()
EOF
fi

# Clean copy of the collection: tracked files plus untracked ones that are not ignored.
rm -rf "$ROOT/build/ansible_collections"
mkdir -p "$BUILD"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) | while IFS= read -r -d '' f; do
    [ -e "$ROOT/$f" ] || continue       # deleted in the working tree
    mkdir -p "$BUILD/$(dirname "$f")"
    cp -P "$ROOT/$f" "$BUILD/$f"
done
# ansible-test wants a git-free tree (or a repo of its own) so it does not walk the parent checkout.
cd "$BUILD"
if git init -q . && git add -A >/dev/null 2>&1; then
  git -c user.name=sanity -c user.email=sanity@invalid commit -q -m sanity >/dev/null 2>&1 || true
fi

exec "$ANSIBLE_TEST" "$COMMAND" --venv --python "$PYTHON_VERSION" --color no "$@"
