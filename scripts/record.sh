#!/usr/bin/env bash
# Record the demo suites against the local SmolLM2 model (llama.cpp), suite by suite.
# Crash-safe and resumable: record mode `once` records only tasks with no recording yet.
# To record against another endpoint instead:
#   OPENAI_API_KEY=... .venv/bin/harness run evals/test_support.py --record-mode rewrite --backend openai
set -euo pipefail
cd "$(dirname "$0")/.."
URL=$(.venv/bin/harness local-model status --url)
if [ -z "$URL" ]; then
  .venv/bin/harness local-model start
  URL=$(.venv/bin/harness local-model status --url)
fi
for suite in "${@:-evals/test_support.py evals/test_router.py evals/test_refunds.py evals/test_fanout.py evals/test_articles.py}"; do
  for file in $suite; do
    .venv/bin/harness run "$file" --record-mode once --base-url "$URL" --backend llama-cpp \
      --concurrency 2 --timeout 600 --no-progress --no-report --runs-dir reports/recordings
  done
done
