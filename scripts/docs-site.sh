#!/usr/bin/env bash
# The collection's documentation site, built by antsibull-docs and Sphinx into
# build/docs-site/build/html (index.html), from the copy docs-lint makes (build/docs).
# Offline, Sphinx cannot fetch Ansible's own inventories (docs.ansible.com), so references to
# Ansible's pages stay plain text: those warnings are listed and allowed, any other fails.
# With chromium installed (Debian's package), the wg_peer page is loaded headless and checked,
# and a screenshot is written next to it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SITE="$ROOT/build/docs-site"
DOCS_BIN="$ROOT/.venv-docs/bin"
[ -d "$ROOT/build/docs/ansible_collections/wgmesh/wireguard" ] || bash "$ROOT/scripts/docs-lint.sh"
site_packages="$("$ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export PATH="$DOCS_BIN:$ROOT/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$ROOT/build/docs:$site_packages"

rm -rf "$SITE"
mkdir -p "$ROOT/build"
mkdir -m 700 "$SITE"
(cd "$ROOT/build/docs/ansible_collections/wgmesh/wireguard" &&
  antsibull-docs sphinx-init --use-current --dest-dir "$SITE" wgmesh.wireguard >/dev/null)
sed -i 's/^sphinx-build -M html rst build -c . -W --keep-going$/sphinx-build -M html rst build -c . --keep-going/' "$SITE/build.sh"
bash "$SITE/build.sh" > "$SITE/build.log" 2>&1 || { tail -30 "$SITE/build.log"; exit 1; }
allowed='failed to reach any of the inventories|undefined label: .(ansible_configuration_settings|callback_plugins|action_plugins|common_return_values|[a-z_]+_plugins). \[ref.ref\]'
others=$(grep -E 'WARNING|ERROR' "$SITE/build.log" | grep -Ev "$allowed" || true)
if [[ -n $others ]]; then echo "docs-site: Sphinx warnings beyond the offline references:"; echo "$others"; exit 1; fi
page="$SITE/build/html/collections/wgmesh/wireguard/wg_peer_module.html"
[[ -f $page && -f $SITE/build/html/index.html ]] || { echo "docs-site: no HTML at $page"; exit 1; }
echo "docs-site: $(find "$SITE/build/html/collections/wgmesh" -name '*.html' | wc -l) pages in $SITE/build/html" \
  "($(grep -cE 'failed to reach|undefined label' "$SITE/build.log") references to docs.ansible.com left as text)"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "docs-site: chromium is not installed (apt-get install chromium): the page was not checked in a browser"
  exit 0
fi
dom=$("$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$page" 2>/dev/null)
for text in "wgmesh.wireguard.wg_peer module" "Parameters" "Return Values" "announce_switch"; do
  grep -q "$text" <<<"$dom" || { echo "docs-site: the browser's page lacks \"$text\""; exit 1; }
done
"$browser" --headless --no-sandbox --disable-gpu --window-size=1280,1600 --screenshot="$SITE/wg_peer.png" \
  "file://$page" >/dev/null 2>&1
echo "docs-site: chromium rendered the wg_peer page (title, parameters, return values); screenshot $SITE/wg_peer.png"
