#!/usr/bin/env bash
# Record the demo suites against the local SmolLM2 model (llama.cpp), in priority order.
#
# Crash-safe and resumable: record mode `once` records only the tasks that have no recording yet,
# and a task's cassette is written when it finishes, so rerunning this script after an
# interruption (or with more time) carries on where it stopped. Each line of the plan is a suite
# file and the variants to record, most important first: the comparisons the demo is about come
# before the rest. A full re-record from scratch takes about the time README "The demo project"
# states (2 CPU cores); `scripts/record.sh evals/test_router.py` records one suite.
#
# To record against another endpoint instead:
#   OPENAI_API_KEY=... .venv/bin/harness run evals/test_support.py --record-mode rewrite --backend openai
set -euo pipefail
cd "$(dirname "$0")/.."
PLAN=(
  "evals/test_router.py router@v1 router@v2"
  "evals/release/test_router_release.py router@v1 router@v1-rc1 router@v1-rc2"
  "evals/test_support.py triage@v1 triage@v2 generalist@v1 generalist@v2 manager@v1 manager@v2"
  "evals/test_fanout.py fanout@v1 fanout@v2"
  "evals/test_articles.py evaluator_optimizer@v1 evaluator_optimizer@v2"
  "evals/test_refunds.py self_correct@v1 self_correct@v2"
  "evals/test_articles.py chain@v1 chain@v2"
  # Both sides of each chat (agents and the simulated customer) against the local model; a chat is
  # up to ~25 calls, so give it RECORD_TIMEOUT=3600 on a busy machine. RECORD_EPOCHS=3 records the
  # epochs pass^3 needs beyond the suite's one.
  "evals/test_conversations.py support_chat@v1 support_chat@v2"
)
if [ "$#" -gt 0 ]; then PLAN=("$@"); fi
# RECORD_URL: record against a server already running elsewhere.
# One server on every core records fastest: python bench/local_model_threads.py measured it 1.29x
# the default server's speed on 2 cores, and two default servers side by side 0.80x (their prompt
# batches each take every core). Replies are identical in every layout. On a machine doing other
# work meanwhile, use RECORD_THREADS=1 and a second server (RECORD_URL) instead: a two-thread
# server's threads wait at barriers as soon as anything else runs.
URL=${RECORD_URL:-$(.venv/bin/harness local-model status --url || true)}
if [ -z "$URL" ]; then
  .venv/bin/harness local-model start --threads "${RECORD_THREADS:-$(nproc)}"
  URL=$(.venv/bin/harness local-model status --url)
fi
for line in "${PLAN[@]}"; do
  read -r file variants <<<"$line"
  args=()
  for v in $variants; do args+=(--variant "$v"); done
  echo "$(date -u +%H:%M:%S) recording $file ${variants:-(all variants)}"
  .venv/bin/harness run "$file" "${args[@]}" --record-mode once --base-url "$URL" --backend llama-cpp \
    ${RECORD_EPOCHS:+--epochs "$RECORD_EPOCHS"} --concurrency "${RECORD_CONCURRENCY:-1}" --timeout "${RECORD_TIMEOUT:-900}" --no-progress --no-report --runs-dir reports/recordings || true
done
echo "$(date -u +%H:%M:%S) done"
