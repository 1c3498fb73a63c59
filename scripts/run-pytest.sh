#!/usr/bin/env bash
# Runs the suite in one pytest process with PYTEST_WORKERS pytest-xdist workers (default 3:
# most tests wait on sockets, processes and Redis failovers, so a third worker keeps 2 cores
# busy while the others wait; 0 runs it all in this process). `--dist loadgroup` keeps the
# tests of one `xdist_group` on one worker. One run, so one summary line ("N passed ...").
# pytest's exit code 5 ("no tests collected") is a failure here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pytest -q -n "${PYTEST_WORKERS:-3}" --dist loadgroup "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
