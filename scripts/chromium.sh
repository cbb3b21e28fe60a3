#!/usr/bin/env bash
# Make Debian's Chromium available at /usr/bin/chromium for the browser tests.
#
# Usage: scripts/chromium.sh [--install]
# Installs with apt only on CI (CI=true) or when --install is given; otherwise it just says
# whether the browser tests will run. Playwright never downloads a browser of its own here:
# the tests launch this binary through executable_path.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
say() { printf 'chromium.sh: %s\n' "$*" >&2; }

install=0
case "${1:-}" in
  --install) install=1 ;;
  "") ;;
  *) say "usage: scripts/chromium.sh [--install]"; exit 2 ;;
esac
[[ "${CI:-}" == "true" ]] && install=1

if [[ -x "$CHROMIUM" ]]; then
  say "found $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi
if [[ "$install" != 1 ]]; then
  say "$CHROMIUM is missing: browser tests will be skipped (run 'make browsers' to install it)"
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  say "installing Chromium needs root: run 'sudo apt-get install chromium'"
  exit 1
fi

say "installing Debian's chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
apt-get update -q
# Fonts so that pages render text as a user would see it in screenshots.
apt-get install "${apt_opts[@]}" --no-install-recommends chromium fonts-liberation fonts-dejavu-core
"$CHROMIUM" --version >&2
