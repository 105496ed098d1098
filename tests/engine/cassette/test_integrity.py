"""A damaged recording never replays as a whole one: it fails its own unit, and ``once`` repairs it.

Each way a recording can be damaged — a newer harness's format, a vcrpy version this vcrpy does
not write, ``complete: false``, an interaction lost, an empty file, a reply body that is not
JSON, a streamed reply cut before its last event (Chat Completions and the Responses API) — is
planted in one unit's file of a suite recorded against the stub. Replay fails exactly that unit,
with one error naming the file and the fix; the other units pass; ``cassettes status`` lists it
as damaged with the reason; and ``--record-mode once`` records it again — except a newer
harness's recording, which it must not overwrite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.engine.cassette.files import inspect_recording
from harness.engine.cassette.integrity import CASSETTE_FORMAT, check_recording
from harness.engine.cassette.inventory import prune, status

DEAD_URL = "http://127.0.0.1:9/v1"
DAMAGED = "t001"


async def ask_twice(input, ctx):
    first = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": str(input)}],
                                                     **ctx.model_kwargs())
    second = await ctx.client.chat.completions.create(messages=[{"role": "user", "content": f"and {input}?"}],
                                                      **ctx.model_kwargs())
    return [first.choices[0].message.content, second.choices[0].message.content]


async def stream_chat(input, ctx):
    stream = await ctx.client.chat.completions.create(
        messages=[{"role": "user", "content": f"tell me a story about {input}"}], stream=True, **ctx.model_kwargs())
    return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])


async def stream_responses(input, ctx):
    stream = await ctx.client.responses.create(model=ctx.settings.model, input=f"tell me a story about {input}",
                                               stream=True)
    return "".join([event.delta async for event in stream if event.type == "response.output_text.delta"])


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    return data["metadata"]["harness"]


def _body(data: dict[str, Any], number: int = 0) -> dict[str, Any]:
    return data["interactions"][number]["response"]["body"]


def _cut_stream(before: str) -> Callable[[dict[str, Any]], None]:
    """Cut the first streamed reply just before ``before`` (its last event), as a dropped connection does."""
    def change(data: dict[str, Any]) -> None:
        text = _body(data)["string"]
        assert before in text, text[-300:]
        _body(data)["string"] = text[: text.index(before)]
    return change


def _set_meta(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: _meta(data).update(fields)


def _drop_interaction(data: dict[str, Any]) -> None:
    data["interactions"].pop()


def _break_body(data: dict[str, Any]) -> None:
    _body(data)["string"] = _body(data)["string"].replace(",", " ", 1)  # "Expecting ',' delimiter"


# (flow, damage, what the error and status say, whether ``once`` may record it again)
DAMAGES = {
    "newer-harness-format": (ask_twice, _set_meta(format=99), "recorded by a newer harness", False),
    "newer-vcrpy-version": (ask_twice, lambda d: d.update(version=7), "recorded by a newer harness", False),
    "not-complete": (ask_twice, _set_meta(complete=False), "complete: false", True),
    "interaction-missing": (ask_twice, _drop_interaction, "holds 1 interaction(s) but its metadata says 2", True),
    "empty-file": (ask_twice, None, "the file is empty (0 bytes)", True),
    "body-not-json": (ask_twice, _break_body, "reply body of interaction 1 is not valid JSON", True),
    "chat-stream-cut": (stream_chat, _cut_stream("data: [DONE]"), "ends before the protocol's last event", True),
    "responses-stream-cut": (stream_responses, _cut_stream("event: response.completed"),
                             "ends before the protocol's last event", True),
}


def _damage(path: Path, change: Callable[[dict[str, Any]], None] | None) -> None:
    if change is None:
        path.write_bytes(b"")
    else:
        _edit(path, change)


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_a_damaged_recording_fails_its_own_unit_and_once_repairs_what_it_can(kind, make_suite, run, stub, tmp_path):
    flow, change, says, repairable = DAMAGES[kind]
    suite = make_suite(flow=flow, n=3)
    assert run(suite, stub.base_url, record_mode="once").errors == 0
    path = tmp_path / "cassettes" / "demo" / "ask@v1" / f"{DAMAGED}.json"
    assert inspect_recording(path).intact, "the recorder writes intact recordings"
    _damage(path, change)

    replay = run(suite, DEAD_URL, record_mode="none")
    rows = {row.task_id: row for row in replay.folder.rows()}
    assert replay.manifest.status == "complete" and len(rows) == 3
    assert [task for task, row in rows.items() if row.error] == [DAMAGED], "exactly its own unit fails"
    error = rows[DAMAGED].error
    assert error.kind == "cassette_miss" and str(path) in error.message and says in error.message
    assert f"--record-mode once --ids {DAMAGED} --variant ask@v1" in error.message, "the fix, as a command"
    assert error.message.count(str(path)) == 1 and "Expecting" not in error.message.splitlines()[-1]

    report = status(suite, tmp_path / "cassettes")
    assert [info.path for info in report.damaged] == [path] and says in report.damaged[0].reason
    assert not report.unused and path not in prune(report), "a damaged recording a unit reads is never pruned"

    before = stub.stats().hits
    once = run(suite, stub.base_url, record_mode="once")
    if repairable:
        assert once.errors == 0 and stub.stats().hits > before, "once records the damaged unit again"
        assert inspect_recording(path).intact
        assert run(suite, DEAD_URL, record_mode="none").errors == 0
    else:
        assert once.errors == 1 and stub.stats().hits == before, "a newer harness's recording is not overwritten"
        assert says in next(r for r in once.folder.rows() if r.error).error.message
        assert "upgrade orchestration-harness" in error.message.lower()


def test_cassettes_status_prints_each_damaged_recording_with_its_reason(make_suite, run, stub, tmp_path, monkeypatch):
    suite = make_suite(flow=ask_twice, n=3)
    run(suite, stub.base_url, record_mode="once")
    folder = tmp_path / "cassettes" / "demo" / "ask@v1"
    _damage(folder / "t000.json", _set_meta(complete=False))
    (folder / "t002.json").write_bytes(b"")
    stray = tmp_path / "cassettes" / "demo" / "ask@v0" / "t000.json"  # a renamed variant's, damaged too
    stray.parent.mkdir()
    stray.write_text("{not json")
    (tmp_path / "test_demo.py").write_text(
        "from harness import Suite, Variant, ModelSettings\n"
        "async def ask_twice(input, ctx): ...\n"
        "suite = Suite(name='demo', dataset='tasks.jsonl',\n"
        "              variants=[Variant('ask@v1', flow=ask_twice, model=ModelSettings(model='stub'))])\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["cassettes", "status", "test_demo.py"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "1 unused, 0 stale, 0 missing, 2 damaged" in text
    assert "damaged cassettes/demo/ask@v1/t000.json (its metadata says complete: false" in text
    assert "damaged cassettes/demo/ask@v1/t002.json (unreadable: the file is empty (0 bytes)" in text
    assert "unused cassettes/demo/ask@v0/t000.json (damaged: unreadable: not valid JSON" in text

    pruned = CliRunner().invoke(app, ["cassettes", "prune", "test_demo.py", "--yes"])
    assert pruned.exit_code == 0 and "kept, damaged" in pruned.output, pruned.output
    assert not stray.exists() and (folder / "t002.json").exists(), "only the recording no unit can read goes"


def test_a_damaged_judge_recording_is_listed_as_damaged_and_never_pruned(make_suite, run, stub, tmp_path):
    suite = make_suite(flow=ask_twice, n=1)
    run(suite, stub.base_url, record_mode="once")
    judge = tmp_path / "cassettes" / "demo" / "_judges" / "quality" / "ask@v1" / "t000.json"
    judge.parent.mkdir(parents=True)
    judge.write_bytes(b"")
    report = status(suite, tmp_path / "cassettes")
    assert [info.path for info in report.damaged] == [judge] and [info.path for info in report.judges] == [judge]
    assert prune(report) == [] and judge.exists()


def test_an_older_format_replays_and_status_points_to_migrate(tmp_path):
    path = tmp_path / "r.json"
    recording = {"version": 1, "interactions": [], "metadata": {"harness": {"format": 1, "complete": True,
                                                                             "interactions": 0}}}
    path.write_text(json.dumps(recording))
    check = check_recording(path, path.read_text())
    assert check.intact and check.outdated and check.format < CASSETTE_FORMAT


def test_every_committed_demo_recording_passes_the_check():
    root = Path(__file__).resolve().parents[3] / "cassettes"
    damaged = [(p, c.damage) for p in sorted(root.rglob("*.json")) if (c := inspect_recording(p)).damage]
    assert len(list(root.rglob("*.json"))) > 100 and not damaged, damaged[:3]


# Reply bodies msgspec checks without building them; what it refuses goes to json, whose answer counts.
BODIES = ['{"a": [1, 2.5e3, true, null, {"b": "\\u00e9"}]}', "[1, 2]", '"text"', "12", '{"a": NaN}',
          '{"a": "\\ud800"}', '{"a": 1e400}', '{"a": [1,]}', '{"a": 01}', '{"a": {"b": tru}}', '{"a": "\\x"}',
          '{"a": 1} x', '{"a": 1', '{"a": "\x01"}']


@pytest.mark.parametrize("body", BODIES)
def test_a_json_reply_body_is_damaged_exactly_when_json_cannot_read_it(body: str, tmp_path: Path):
    response = {"status": {"code": 200, "message": "OK"}, "headers": {"Content-Type": ["application/json"]},
                "body": {"string": body}}
    recording = {"version": 1, "interactions": [{"request": {"method": "POST", "uri": "u", "body": "", "headers": {}},
                                                  "response": response}],
                 "metadata": {"harness": {"format": CASSETTE_FORMAT, "complete": True, "interactions": 1}}}
    check = check_recording(tmp_path / "r.json", json.dumps(recording))
    try:
        json.loads(body)
    except ValueError as exc:
        assert check.damage is not None and check.damage.kind == "bad-body" and str(exc) in check.damage.reason
    else:
        assert check.intact, check.damage
