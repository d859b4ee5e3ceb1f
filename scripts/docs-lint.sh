#!/usr/bin/env bash
# The collection's documentation as antsibull-docs reads it (every plugin's and the role's docs,
# their markup and references) and the changelog fragments as antsibull-changelog reads them.
# Runs on a copy of the files git knows, at build/docs/ansible_collections/wgmesh/wireguard;
# ansible-doc (from .venv) finds ansible.posix and community.general where the `ansible`
# package installed them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TREE="$ROOT/build/docs/ansible_collections/wgmesh/wireguard"
DOCS_BIN="$ROOT/.venv-docs/bin"
[ -x "$DOCS_BIN/antsibull-docs" ] || { echo "docs-lint: $DOCS_BIN/antsibull-docs not found; run make bootstrap" >&2; exit 2; }

rm -rf "$ROOT/build/docs"
mkdir -p "$TREE"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard) | while IFS= read -r -d '' f; do
  [ -e "$ROOT/$f" ] || continue
  mkdir -p "$TREE/$(dirname "$f")"
  cp -P "$ROOT/$f" "$TREE/$f"
done
site_packages="$("$ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cd "$TREE"
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$ROOT/build/docs:$site_packages"
"$DOCS_BIN/antsibull-docs" lint-collection-docs --plugin-docs .
"$DOCS_BIN/antsibull-changelog" lint
echo "docs-lint: antsibull-docs and antsibull-changelog found nothing"
