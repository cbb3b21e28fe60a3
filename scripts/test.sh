#!/usr/bin/env bash
# Run the test suite: every test on SQLite, then the tests marked `postgres` on PostgreSQL.
#
# Usage: scripts/test.sh [pytest args...]   (make test runs it after the linters)
# Uses INBOX_TEST_POSTGRES_URL when it is set; otherwise starts the throwaway server of
# scripts/postgres.sh, empties its database, and stops it again if this run started it.
# Ends with one line adding up both runs. pytest's "no tests ran" (exit 5) is an error only
# when neither run ran a test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTEST=${PYTEST:-.venv/bin/pytest}
PYTHON=${PYTHON_FOR_TOTALS:-.venv/bin/python}
RESULTS=var/test-results
PYTEST_OPTS=(-ra --durations=5 -o faulthandler_timeout=600)

say() { printf 'test.sh: %s\n' "$*" >&2; }
on_ci() { [[ "${CI:-}" == "true" ]]; }

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.xml

# The line CI reads: both runs added up, from pytest's JUnit reports.
totals() {
  "$PYTHON" - "$RESULTS"/*.xml <<'PY'
import sys
import xml.etree.ElementTree as ET

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        continue
    for suite in root.iter("testsuite"):
        n, f, e, s = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        passed += n - f - e - s
        failed += f + e
        skipped += s
print(f"all: {passed} passed, {failed} failed, {skipped} skipped")
PY
}

# Runs pytest; on a failure other than "no tests ran" prints the totals and exits with its code.
ran_tests=0
run_pytest() {
  local name=$1 rc=0
  shift
  say "pytest ($name): $*"
  "$PYTEST" "${PYTEST_OPTS[@]}" --junitxml="$RESULTS/$name.xml" "$@" || rc=$?
  case $rc in
    0) ran_tests=1 ;;
    5) ;;
    *) totals; exit "$rc" ;;
  esac
}

scripts/chromium.sh
scripts/node.sh

pg_started=""
if [[ -z "${INBOX_TEST_POSTGRES_URL:-}" ]]; then
  scripts/postgres.sh status || pg_started=1
  if url=$(scripts/postgres.sh start) && scripts/postgres.sh reset; then
    export INBOX_TEST_POSTGRES_URL=$url
  elif on_ci; then
    say "PostgreSQL could not be started"
    exit 1
  else
    say "PostgreSQL could not be started: the PostgreSQL run is skipped"
  fi
  if [[ -n "$pg_started" ]]; then
    trap 'scripts/postgres.sh stop' EXIT
  fi
fi

pg_url=${INBOX_TEST_POSTGRES_URL:-}
unset INBOX_TEST_POSTGRES_URL
run_pytest sqlite -m "not postgres" "$@"
if [[ -n "$pg_url" ]]; then
  export INBOX_TEST_POSTGRES_URL=$pg_url
  run_pytest postgres -m postgres "$@"
fi

totals
if [[ "$ran_tests" != 1 ]]; then
  say "no test ran"
  exit 1
fi
