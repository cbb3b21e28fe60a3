#!/usr/bin/env bash
# Run the benches: each prints a table (machine, date, commit; figure, baseline, ratio, target).
#
# Usage: scripts/bench.sh [bench...]   (make bench runs them all; QUICK=1 for a smoke run)
#   benches: inbound outbound webchat_scale scale size backlog retention render capacity nodes
#   (default: all of them, in that order; scale only with PostgreSQL)
# Every database bench runs on SQLite and on PostgreSQL: it uses INBOX_TEST_POSTGRES_URL when
# set, otherwise the throwaway server of scripts/postgres.sh (fsync off: the tables say so),
# stopped again if this run started it. wrk comes from Debian's packages (installed by the
# benches when missing, as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
say() { printf 'bench.sh: %s\n' "$*" >&2; }

benches=("$@")
all=""
if [[ ${#benches[@]} == 0 ]]; then
  all=1
  benches=(inbound outbound webchat_scale size backlog retention render capacity nodes)
fi

if [[ -z "${INBOX_TEST_POSTGRES_URL:-}" ]]; then
  pg_started=""
  scripts/postgres.sh status || pg_started=1
  if url=$(scripts/postgres.sh start); then
    export INBOX_TEST_POSTGRES_URL=$url
  else
    say "PostgreSQL could not be started: the benches run on SQLite only"
  fi
  if [[ -n "$pg_started" ]]; then
    trap 'scripts/postgres.sh stop' EXIT
  fi
fi

# several processes need PostgreSQL: bench.scale runs only when there is a server. It runs
# before the size bench: for some minutes after that bench's million-row databases the
# machine is slower (one process did 2,092 msg/s on the core that gave 3,175 before), and
# not by the same amount from one round of processes to the next.
if [[ -n "$all" && -n "${INBOX_TEST_POSTGRES_URL:-}" ]]; then
  before_size=()
  for bench in "${benches[@]}"; do
    [[ $bench == size ]] && before_size+=(scale)
    before_size+=("$bench")
  done
  benches=("${before_size[@]}")
fi

quick=()
if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then
  quick=(--quick)
fi

for bench in "${benches[@]}"; do
  say "python -m bench.$bench ${quick[*]}"
  "$PYTHON" -m "bench.$bench" "${quick[@]}"
done
