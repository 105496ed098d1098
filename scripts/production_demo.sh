#!/usr/bin/env bash
# Monitor and iterate, on the demo project (docs/capture.md, README "Production traces"):
#
#   1. serve the ShopDesk web app (python -m shopdesk.app, harness.capture.install its one harness
#      line) in front of the local model, send it the new tickets of scripts/production/tickets.jsonl
#      over HTTP, and give each answer the customer's feedback;
#   2. list what went wrong, and import those traces (errors, a guardrail that fired, a thumbs-down)
#      into the support suite's production split, with triage@captured recordings; the import's
#      replay check proves each row replays exactly as production ran it;
#   3. write the rows' expected answers (the import leaves them to you);
#   4. record the prompt fix (triage@v2, the same app code) on those rows, once, through the same gateway;
#   5. replay both offline and ask: did the fix help on the failures we saw?
#
# Needs a llama.cpp server (`harness local-model start --threads 1`; its URL from
# `harness local-model status --url`). About 25 minutes on one thread of a busy 2-core machine.
# It adds to what is committed: rerun from a clean slate with
#   rm -rf traces/shopdesk cassettes/support-production && : > datasets/support_production.jsonl
#
#   scripts/production_demo.sh http://127.0.0.1:PORT/v1
set -euo pipefail
cd "$(dirname "$0")/.."
UPSTREAM=${1:?usage: scripts/production_demo.sh LLAMA_BASE_URL  (harness local-model status --url)}
PY=${PYTHON:-.venv/bin/python}
HARNESS=${HARNESS:-.venv/bin/harness}
CAPTURE=traces/shopdesk
SUITE=evals/test_support_production.py
unset OPENAI_API_KEY

echo "== 1. production: the app answers new tickets, captured"
"$PY" scripts/production/drive.py serve --upstream "$UPSTREAM" --capture "$CAPTURE"

echo "== 2. the traces that matter, imported as the support suite's production split"
"$HARNESS" traces list "$CAPTURE" --feedback-below 0.5
# Filters combine (all must hold): one import per question; a trace already imported is skipped.
for filter in --errors --guardrail-tripped "--feedback-below 0.5"; do
  # shellcheck disable=SC2086  # the filter and its value are two words
  "$HARNESS" traces import "$CAPTURE" --suite "$SUITE" --tag production --tag captured $filter
done

echo "== 3. the expected answers the import left for us"
"$PY" scripts/production/drive.py fill-expected datasets/support_production.jsonl

echo "== 4. the prompt fix, recorded once on the imported rows"
# v2's longer prompts took up to 300 s a ticket on one busy thread: the default task timeout
# (300 s) cut two of them, and a timed-out task leaves no recording to replay.
code=0
"$PY" scripts/production/drive.py with-gateway --upstream "$UPSTREAM" -- \
  "$HARNESS" run "$SUITE" --variant triage@v2 --record-mode once --base-url "{gateway}" --timeout 1200 \
    --no-gate --no-progress || code=$?
[ "$code" -le 1 ] || { echo "recording triage@v2 failed (exit $code)" >&2; exit "$code"; }

echo "== 5. both replayed offline: did the fix help on the failures we saw?"
"$HARNESS" run "$SUITE" --record-mode none --no-progress || true
"$HARNESS" compare triage@captured triage@v2 --suite support-production
