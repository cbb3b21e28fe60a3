#!/usr/bin/env bash
# Create .venv and install the project with its test tools; a no-op when nothing changed.
#
# The install is redone when pyproject.toml, the example plug-in's metadata, the set of files
# in the packages or the Python version changes (the stamp holds their fingerprint).
#
# inbox-gateway is installed in setuptools' strict editable mode: a tree of links to the
# sources under build/, on a plain .pth path. The default mode hides the packages behind an
# import hook that type checkers cannot follow, so a plug-in's `mypy --strict` would not see
# the contract's types (py.typed included). A strict tree does not pick up added or removed
# files by itself, hence the file list in the fingerprint.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
STAMP="$VENV/.installed"
PLUGIN=tests/plugin_adapter
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# Playwright drives Debian's /usr/bin/chromium; it must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf 'bootstrap.sh: %s\n' "$*" >&2; }

# The first Python >= 3.11 that can create a virtual environment.
pick_python() {
  local py
  for py in ${PYTHON:-} python3 python3.13 python3.12 python3.11 \
      "${HOME:-/root}"/.pyenv/versions/3.1[1-9]*/bin/python3 /usr/local/bin/python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"
      return 0
    fi
  done
  say "no Python 3.11 or newer with venv and ensurepip was found (set PYTHON=/path/to/python3)"
  return 1
}

fingerprint() {
  {
    cat pyproject.toml
    cat "$PLUGIN"/pyproject.toml "$PLUGIN"/setup.cfg "$PLUGIN"/setup.py 2>/dev/null || true
    find gateway channels adapters -type f ! -path '*/__pycache__/*' | LC_ALL=C sort
    "$VENV/bin/python" -VV
  } | sha256sum | cut -d' ' -f1
}

if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  python=$(pick_python)
  say "creating $VENV with $("$python" -V 2>&1)"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
fi

wanted=$(fingerprint)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
  touch "$STAMP"
  exit 0
fi

say "installing inbox-gateway and its test tools into $VENV"
"$VENV/bin/python" -m pip install -qq -e '.[test]' --config-settings editable_mode=strict
if [[ -d "$PLUGIN" ]]; then
  say "installing the example plug-in from $PLUGIN"
  "$VENV/bin/python" -m pip install -qq -e "$PLUGIN"
fi
echo "$wanted" >"$STAMP"
