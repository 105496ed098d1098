"""The committed demo cassettes are real recordings of the local model, not hand-written fixtures.

Re-records a few committed tasks live against SmolLM2 at temperature 0 and checks that every
reply equals the one in the committed cassette, call by call. It needs the local model server
and fails (never skips) when the model cannot start.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.engine.cassette.store import read_cassette
from harness.engine.loader import find_suite
from harness.engine.runner import RunOptions, run_suite
from harness.engine.runtime import RuntimeConfig

ROOT = Path(__file__).resolve().parents[3]
#: Small, quick tasks of a Responses-API suite (the SDK's OpenAIResponsesModel, carried over Chat
#: Completions by the llama-cpp profile), recorded with the pinned server settings (1 thread,
#: n_ctx 8192). The cassette holds the Chat Completions exchange, compared call by call.
#: And one refund decision: the Agents SDK's output_type, tool calls and retries, six calls.
SAMPLES = [("evals/test_router.py", "router@v1", 2), ("evals/test_router.py", "router@v2", 1),
           ("evals/test_refunds.py", "self_correct@v1", 1)]


def _replies(path: Path) -> dict[str, str]:
    """Each call's reply content (or tool call), by request key."""
    requests, responses, _ = read_cassette(path)
    replies = {}
    for request, response in zip(requests, responses, strict=True):
        body = response["body"]["string"]
        body = body.decode() if isinstance(body, bytes) else body
        message = json.loads(body)["choices"][0]["message"]
        replies[request.headers["x-harness-key"]] = json.dumps(
            [message.get("content"), message.get("tool_calls") and [c["function"] for c in message["tool_calls"]]])
    return replies


def _failed(path: Path) -> bool:
    return read_cassette(path)[2].get("outcome") == "error"


@pytest.mark.local_model
@pytest.mark.parametrize(("suite_file", "variant", "count"), SAMPLES)
def test_live_replies_equal_the_committed_recording(local_model, tmp_path, suite_file, variant, count):
    suite = find_suite(ROOT / suite_file)
    # Tasks that completed: a task that failed mid-gather recorded whichever calls were done when
    # it failed, which depends on scheduling, so it cannot be compared call by call.
    committed = [p for p in sorted((ROOT / "cassettes" / suite.name / variant).glob("*.json")) if not _failed(p)]
    assert len(committed) >= count, f"too few completed cassettes for {suite.name}/{variant}: run scripts/record.sh"
    chosen = committed[:count]
    ids = [path.stem for path in chosen]
    config = RuntimeConfig(base_url=local_model.base_url, backend=suite.backend, cassette_dir=tmp_path / "cassettes")
    options = RunOptions(record_mode="rewrite", variants=[variant], ids=ids, runtime=config,
                         runs_dir=tmp_path / "runs", concurrency=1, timeout_s=600)
    asyncio.run(run_suite(suite, options))
    for path in chosen:
        fresh = tmp_path / "cassettes" / suite.name / variant / path.name
        assert fresh.is_file(), f"the live run recorded nothing for {path.stem}"
        live, committed = _replies(fresh), _replies(path)
        # A task that failed mid-gather may have had other branches' replies in flight: the
        # two recordings can differ in those; every call both have must match exactly.
        shared = committed.keys() & live.keys()
        assert shared, f"no call in common with the committed {path}"
        assert {k: live[k] for k in shared} == {k: committed[k] for k in shared}, f"replies differ from {path}"
        assert committed.keys() <= live.keys() or _failed(path), f"the live run made fewer calls than {path}"
