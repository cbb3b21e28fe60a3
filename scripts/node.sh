#!/usr/bin/env bash
# Make Debian's Node.js available as `node`, for the test that checks the web chat widget's
# JavaScript (`node --check`).
#
# Usage: scripts/node.sh [--install]
# Installs with apt only on CI (CI=true) or when --install is given; otherwise it just says
# whether that test will run.
set -euo pipefail

say() { printf 'node.sh: %s\n' "$*" >&2; }

install=0
case "${1:-}" in
  --install) install=1 ;;
  "") ;;
  *) say "usage: scripts/node.sh [--install]"; exit 2 ;;
esac
[[ "${CI:-}" == "true" ]] && install=1

if command -v node >/dev/null; then
  say "found node $(node --version 2>/dev/null || echo '(version unknown)')"
  exit 0
fi
if [[ "$install" != 1 ]]; then
  say "node is missing: the widget's syntax check will be skipped (run 'make node' to install it)"
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  say "installing Node.js needs root: run 'sudo apt-get install nodejs'"
  exit 1
fi

say "installing Debian's nodejs with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends nodejs
node --version >&2
