#!/usr/bin/env bash
# The main job: replay every demo suite from the committed cassettes (offline, no key) and write
# the comparison reports. Installs what it needs into .venv first.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e . -e agents   # the harness, then the demo's code under test

unset OPENAI_API_KEY
for suite in evals/test_*.py; do
  .venv/bin/harness run "$suite" --record-mode none --concurrency 8 --no-progress "$@"
done
.venv/bin/python -m harness.report.index reports/runs reports/index.md
echo "Reports: reports/runs/*/report/report.html — summary: reports/index.md"
