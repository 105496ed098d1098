"""``harness traces``: find the production traces that matter and turn them into replayable tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from harness.cli.app import RUNS_DIR, UsageError, _asyncio_run, _shown, _suite, app, console

traces_app = typer.Typer(help="Production traces (harness.capture): list, show, import as tasks.",
                         no_args_is_help=True)
app.add_typer(traces_app, name="traces")

Folder = Annotated[Path, typer.Argument(help="A capture folder (harness.capture.install) or one .jsonl file.")]
Errors = Annotated[bool, typer.Option("--errors", help="Only traces where something failed: an agent raised, or a model call got no answer (a guardrail that tripped is --guardrail-tripped).")]
Tripped = Annotated[bool, typer.Option("--guardrail-tripped", help="Only traces where a guardrail fired (input or output; whether or not the app caught the tripwire).")]
Below = Annotated[float | None, typer.Option("--feedback-below", help="Only traces whose feedback score is below.")]
Slower = Annotated[float | None, typer.Option("--latency-above", help="Only traces slower than this (seconds).")]
AgentOpt = Annotated[str | None, typer.Option("--agent", help="Only traces where this agent ran.")]
ToolOpt = Annotated[str | None, typer.Option("--tool", help="Only traces that called this tool.")]
TextOpt = Annotated[str | None, typer.Option("--text", help="Only traces holding this text (any case).")]
IdsOpt = Annotated[list[str] | None, typer.Option("--id", help="Only these trace ids (repeatable).")]
WorkflowOpt = Annotated[str | None, typer.Option("--workflow", help="Only traces of this name (an SDK trace's "
                                                 "workflow, a capture.trace block, or a plain call's API).")]


def _select(folder: Path, errors: bool, tripped: bool, below: float | None, slower: float | None,
            agent: str | None, tool: str | None, text: str | None, ids: list[str] | None,
            workflow: str | None = None) -> list[Any]:
    from harness.capture.query import TraceFilter
    from harness.capture.record import TraceFileError, read_traces

    try:
        traces = read_traces(folder)
    except TraceFileError as exc:
        raise UsageError(str(exc)) from None
    chosen = TraceFilter(errors=errors, guardrail_tripped=tripped, feedback_below=below, latency_above_s=slower,
                         agent=agent, tool=tool, text=text, ids=frozenset(ids or ()),
                         workflow=workflow).select(traces)
    return chosen


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


@traces_app.command("list")
def list_traces(folder: Folder, errors: Errors = False, guardrail_tripped: Tripped = False,
                feedback_below: Below = None, latency_above: Slower = None, agent: AgentOpt = None,
                tool: ToolOpt = None, text: TextOpt = None, ids: IdsOpt = None, workflow: WorkflowOpt = None) -> None:
    """List captured traces, newest last, with the filters given (all must hold).

    Example: `harness traces list traces/ --feedback-below 0.5 --agent "Orders Agent"`
    """
    from harness.capture.query import guardrails_tripped

    chosen = _select(folder, errors, guardrail_tripped, feedback_below, latency_above, agent, tool, text, ids,
                     workflow)
    table = Table(title=f"{len(chosen)} trace(s) in {_shown(folder)}")
    for column in ("trace", "started", "agents", "tools", "latency", "outcome", "feedback", "input"):
        table.add_column(column, overflow="fold")
    for trace in chosen:
        record = trace.record
        fired = guardrails_tripped(trace)
        outcome = ("[red]error[/]" if record.error else "ok") + (f" · [yellow]guardrail {', '.join(fired)}[/]"
                                                                  if fired else "")
        score = "—" if trace.score is None else f"{trace.score:g}"
        table.add_row(escape(record.trace_id), record.started_at[:19], escape(" → ".join(record.trajectory.handoff_path)),
                      escape(", ".join(t.name for t in record.trajectory.tool_calls)), f"{record.latency_s:.2f}s",
                      outcome, score, escape(_short(record.input)))
    console.print(table)


def _span_line(span: Any) -> str:
    attributes = span.attributes
    detail = ""
    if span.kind == "tool":
        detail = f" {_short(attributes.get('arguments'), 80)} → {_short(attributes.get('result'), 80)}"
    elif span.kind == "model":
        detail = f" → {_short(attributes.get('output') or attributes.get('tool_calls'), 100)}"
    elif span.kind == "guardrail":
        why = attributes.get("reason")
        detail = (" [yellow]tripped[/]" if attributes.get("triggered") else " passed") + (
            f": {escape(_short(why, 100))}" if why is not None else "")
    timing = "" if span.end_s is None else f" [dim]{span.end_s - span.start_s:.2f}s[/]"
    error = f" [red]{escape(_short(span.error, 100))}[/]" if span.error else ""
    return f"[bold]{span.kind}[/] {escape(span.name)}{escape(detail) if span.kind != 'guardrail' else detail}{timing}{error}"


@traces_app.command("show")
def show(trace_id: Annotated[str, typer.Argument(help="The trace id (a unique prefix is enough).")],
         folder: Annotated[Path, typer.Option("--folder", help="Capture folder.")] = Path("traces")) -> None:
    """Show one trace: input, output, feedback, and its spans as a tree (agents, handoffs, tools, models).

    Example: `harness traces show trace_3f2a --folder traces/`
    """
    from harness.capture.record import TraceFileError, read_traces

    try:
        found = [t for t in read_traces(folder) if t.trace_id.startswith(trace_id)]
    except TraceFileError as exc:
        raise UsageError(str(exc)) from None
    if len(found) != 1:
        raise UsageError(f"{len(found)} traces in {folder} match {trace_id!r}; give more of the id")
    trace = found[0]
    record = trace.record
    console.print(f"[bold]{escape(record.trace_id)}[/] {escape(record.workflow)} · {record.started_at} · "
                  f"{record.latency_s:.2f}s · {escape(trace.link)}", highlight=False)
    console.print(f"input:  {escape(_short(record.input, 400))}", highlight=False)
    console.print(f"output: {escape(_short(record.output, 400))}", highlight=False)
    if record.error:
        console.print(f"[red]error: {escape(record.error)}[/]", highlight=False)
    for given in trace.feedback:
        console.print(f"feedback: {given.score:g} {escape(given.comment or '')} ({given.at})", highlight=False)
    tree = Tree("spans")
    nodes: dict[str | None, Tree] = {None: tree}
    for span in sorted(record.spans, key=lambda s: s.start_s):
        parent = nodes.get(span.parent_id, tree)
        nodes[span.id] = parent.add(_span_line(span))
    console.print(tree)
    console.print(f"{len(record.exchanges)} model exchange(s): " + ", ".join(
        f"{e.position} HTTP {e.status or e.error}" for e in record.exchanges), highlight=False)


@traces_app.command("import")
def import_(folder: Folder,
            suite_file: Annotated[Path, typer.Option("--suite", help="The suite file whose dataset gets the rows.")],
            suite: Annotated[str | None, typer.Option("--suite-name", help="Suite name, when the file has several.")] = None,
            variant: Annotated[str | None, typer.Option("--variant", help="The variant the recordings are for "
                                                        "(default: the suite's one <flow>@captured).")] = None,
            tag: Annotated[list[str] | None, typer.Option("--tag", help="Tags for the new rows (default captured).")] = None,
            cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
            check: Annotated[bool, typer.Option(help="Replay the new rows offline and compare each with its trace.")] = True,
            runs_dir: Annotated[Path, typer.Option(help="Where the check's run folder goes.")] = RUNS_DIR,
            errors: Errors = False, guardrail_tripped: Tripped = False, feedback_below: Below = None,
            latency_above: Slower = None, agent: AgentOpt = None, tool: ToolOpt = None, text: TextOpt = None,
            ids: IdsOpt = None, workflow: WorkflowOpt = None) -> None:
    """Turn the traces chosen by the filters into tasks of a suite: dataset rows (expected left for
    you, the feedback in metadata) and recordings for its `<flow>@captured` variant, then replay
    them offline and say where a row's trajectory parts from its trace. Exit 1 when one does.

    Example: `harness traces import traces/ --suite evals/test_support.py --feedback-below 0.5`
    """
    from harness.capture.importer import TraceImportError, captured_variant, import_traces

    chosen = _select(folder, errors, guardrail_tripped, feedback_below, latency_above, agent, tool, text, ids,
                     workflow)
    loaded = _suite(suite_file, suite)
    try:
        target = captured_variant(loaded, variant)
        result = import_traces(chosen, loaded, target, cassettes, tags=tag or ["captured"])
    except TraceImportError as exc:
        raise UsageError(str(exc)) from None
    console.print(f"{len(result.added)} row(s) added to {_shown(result.dataset)} for {target.name}, "
                  f"{len(result.skipped)} skipped, {len(result.cassettes)} recording(s) in {_shown(cassettes)}",
                  highlight=False)
    for trace_id, why in result.skipped:
        console.print(f"  skipped {escape(trace_id)}: {escape(why)}", highlight=False)
    for task_id, note in result.notes:
        console.print(f"  [yellow]note[/] {escape(task_id)}: {escape(note)}", highlight=False)
    added = {t.id for t in result.added}
    if check and added:
        _check([t for t in chosen if t.trace_id in added], loaded, target, cassettes, runs_dir)


def _check(traces: list[Any], suite: Any, variant: Any, cassettes: Path, runs_dir: Path) -> None:
    from harness.capture.check import replay_check

    run, checks = _asyncio_run(replay_check(suite, variant, traces, cassettes, runs_dir))
    parted = [c for c in checks if not c.equal]
    console.print(f"replay check ({_shown(run.path)}): {len(checks) - len(parted)} of {len(checks)} row(s) replay "
                  "exactly as captured", highlight=False)
    for found in parted:
        console.print(f"  [red]parts[/] {escape(found.task_id)}: {escape(found.difference or '')}", highlight=False)
    if parted or len(checks) < len(traces):
        raise typer.Exit(1)


@traces_app.command("check")
def check_(folder: Folder,
           suite_file: Annotated[Path, typer.Option("--suite", help="The suite the traces were imported into.")],
           suite: Annotated[str | None, typer.Option("--suite-name", help="Suite name, when the file has several.")] = None,
           variant: Annotated[str | None, typer.Option("--variant", help="The captured variant.")] = None,
           cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
           runs_dir: Annotated[Path, typer.Option(help="Where the run folder goes.")] = RUNS_DIR) -> None:
    """Replay the imported rows offline and say, per row, where its trajectory parts from the captured
    one (after a change to the code). Exit 1 when one does.

    Example: `harness traces check traces/ --suite evals/test_support.py`
    """
    from harness.capture.importer import TraceImportError, captured_variant

    loaded = _suite(suite_file, suite)
    try:
        target = captured_variant(loaded, variant)
    except TraceImportError as exc:
        raise UsageError(str(exc)) from None
    known = {task.id for task in loaded.resolved_dataset().select(tags=(), ids=()).tasks()}
    imported = [t for t in _select(folder, False, False, None, None, None, None, None, None) if t.trace_id in known]
    if not imported:
        raise UsageError(f"no trace of {folder} is a task of suite '{loaded.name}'; import them first")
    _check(imported, loaded, target, cassettes, runs_dir)


@traces_app.command("otlp")
def otlp(files: Annotated[list[Path], typer.Argument(help="OTLP JSON files (OpenTelemetry GenAI conventions).")],
         out: Annotated[Path, typer.Option("--out", help="Capture folder to add the traces to.")] = Path("traces")) -> None:
    """Read OTLP JSON traces (OpenLLMetry, OpenInference, Logfire: the GenAI semantic conventions) into a
    capture folder, so `harness traces list/show` find them beside the SDK's.

    Example: `harness traces otlp exported.json --out traces/`
    """
    from harness.capture.otlp import OtlpError, write_otlp

    try:
        written = write_otlp(files, out)
    except OtlpError as exc:
        raise UsageError(str(exc)) from None
    console.print(f"{written} trace(s) from {len(files)} file(s) written to {_shown(out)}", highlight=False)
