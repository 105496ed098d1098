"""Commands that read run folders: report, compare, gate, view, baseline update, list."""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import (
    RUNS_DIR,
    UsageError,
    _latest_run_with,
    _render_gates,
    _resolve_run,
    app,
    baseline_app,
    console,
    err,
)

log = logging.getLogger(__name__)

ALLOW_DATASET_CHANGE = ("Compare with a baseline run whose tasks changed: only the tasks unchanged in both runs "
                        "count, and every surface says so (default: exit 2 on changed tasks, 3 on missing ones).")


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import finder that says pandas is not installed (see :func:`_refresh_sidecars`)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is not loaded in the sidecar helper", name=name)


def _refresh_sidecars(runs: Sequence[Path]) -> None:
    """The sidecar helper's whole job (:func:`_columns_ready`); it runs in its own forked process."""
    # pyarrow's pa.array imports pandas the first time it is called, only to ask whether its input
    # is a pandas object: 0.1-0.3 s of this helper's CPU, on the cold gate's critical path
    # (bench/gate_timeline.py). This process builds sidecars and exits; it never uses pandas, so
    # pandas is marked absent here and pyarrow answers "not a pandas object" at once. (Had pandas
    # been needed after all, the import fails, the helper with it, and the command reads alone.)
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())
    from harness.core.sidecar import refresh

    for run in runs:
        refresh(run)


@contextlib.contextmanager
def _columns_ready(*runs: Path | None) -> Iterator[None]:
    """Bring the runs' columnar sidecars up to date in a helper process while the body imports the analysis.

    A cold read (no sidecar yet: a run copied from CI, shards merged elsewhere) used to import
    scipy, pandas and pyarrow (1.5-1.8 s of CPU) and then decode ``results.jsonl``, one after the
    other on one core; forked first, the decode runs on another core during the imports, and the
    body reads a warm sidecar (bench/analysis_scale.py, cold gate at 100k rows). A sidecar newer
    than its rows forks nothing. With one core, without ``fork``, or if the helper fails, the
    body reads as it always did.
    """
    from harness.core.results import RunFolder
    from harness.prefork import Prefork, PreforkFailed

    stale = [run for run in runs if run is not None and RunFolder(run).sidecar_looks_stale()]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    helper = None
    if stale and cores > 1:
        # numpy, pyarrow and msgspec imported once, here, instead of in both processes: the body
        # needs them as much as the helper does
        import harness.core.sidecar  # noqa: F401
        helper = Prefork.start(functools.partial(_refresh_sidecars, stale))
    try:
        yield
    finally:
        if helper is not None:
            try:
                helper.wait()
            except PreforkFailed as exc:
                log.debug("the sidecar helper failed; reading without it: %s", exc)


@app.command()
def report(
    run: Annotated[str | None, typer.Argument(help="Run folder or id (default: the latest).")] = None,
    vs: Annotated[str | None, typer.Option(help="Another run folder, or a variant of this run.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default <run>/report).")] = None,
    plots: Annotated[bool, typer.Option(help="Draw plots.")] = True,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    show: Annotated[bool, typer.Option(help="Print the Markdown report.")] = True,
    suite: Annotated[str | None, typer.Option("--suite", help="With latest: the newest run of this suite.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Baseline run for no-regression gates.")] = None,
    allow_dataset_change: Annotated[bool, typer.Option(
        "--allow-dataset-change", help=ALLOW_DATASET_CHANGE)] = False,
) -> None:
    """Write a run's report: Markdown, self-contained HTML, JSON summary, CSV/parquet, plots.

    The run's own gates are evaluated and shown, so the report and `harness gate` agree.
    Example: `harness report latest --vs triage@v1`
    """
    path = _resolve_run(run, runs_dir, suite)
    with _columns_ready(path, baseline):
        from harness.analysis.run_data import load_run_data
        from harness.cli.memory import return_freed_memory
        from harness.gate import evaluate_gates
        from harness.report.writer import write_report

    return_freed_memory()
    data = load_run_data(path)
    gates = (evaluate_gates(data, baseline=baseline, allow_dataset_change=allow_dataset_change)
             if data.manifest.gates else None)
    paths = write_report(data, out_dir=out, vs=vs, plots=plots, gates=gates, baseline=baseline,
                         allow_dataset_change=allow_dataset_change)
    if show:
        _print_terminal(paths)
    console.print(f"report: {paths.markdown} · {paths.html}")
    _exit_if_partial_against_baseline(paths.partial_against_baseline)


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="Baseline: a run folder/id, or a variant name.")],
    b: Annotated[str, typer.Argument(help="Candidate: a run folder/id, or a variant name.")],
    run: Annotated[str | None, typer.Option(help="With two variants: the run holding them (default latest).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    out: Annotated[Path | None, typer.Option(help="Output folder for the comparison report.")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="With two variants: the newest run of this suite.")] = None,
    allow_dataset_change: Annotated[bool, typer.Option(
        "--allow-dataset-change", help=ALLOW_DATASET_CHANGE)] = False,
) -> None:
    """Compare two runs, or two variants of one run: paired differences, labelled better/worse/no difference.

    The question is this one pair: p-values are adjusted over its metrics only, whatever other
    variants the run holds. Example: `harness compare triage@v1 triage@v2` ·
    `harness compare reports/baseline reports/runs/<id>`
    """
    from harness.cli.memory import return_freed_memory
    from harness.report.writer import write_report

    return_freed_memory()

    def as_run(text: str) -> Path | None:
        if text == "latest" or not (Path(text).is_dir() or (runs_dir / text).is_dir()):
            return None
        return _resolve_run(text, runs_dir)

    run_a, run_b = as_run(a), as_run(b)
    if run_a is not None and run_b is not None:
        paths = write_report(run_b, out_dir=out or run_b / "compare", vs=run_a,
                             allow_dataset_change=allow_dataset_change)
    elif run_a is None and run_b is None:
        path = _resolve_run(run, runs_dir, suite) if run else _latest_run_with(runs_dir, a, b, suite=suite)
        paths = write_report(path, out_dir=out or path / f"compare-{a}-vs-{b}".replace("@", "_"), vs=a,
                             candidates=[b])
    else:
        raise UsageError("give two runs or two variant names, not one of each")
    _print_terminal(paths)
    _exit_if_partial_against_baseline(paths.partial_against_baseline)


def _print_terminal(paths: Any) -> None:
    """The report for a terminal: verdicts first, tables that fit its width (the files hold the rest)."""
    from harness.cli.terminal import print_report, read_summary

    summary, gates = read_summary(paths.summary_json)
    print_report(console, summary, gates if gates is not None else paths.gates, [paths.markdown, paths.html])


def _exit_if_partial_against_baseline(missing: list[str]) -> None:
    """Exit 3 when the run lacks tasks its baseline run has: the comparison is of part of the suite."""
    if missing:
        from harness.analysis.status import named_ids

        err.print(f"[yellow]run incomplete:[/] the candidate lacks {len(missing)} task(s) of the baseline run "
                  f"({escape(named_ids(missing))}); --allow-dataset-change compares the tasks both have",
                  highlight=False)
        raise typer.Exit(3)


@app.command()
def gate(
    run: Annotated[str | None, typer.Argument(
        help="Run folder or id; `latest` (the default): the newest run of every suite of the project.")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Baseline run for no-regression gates.")] = None,
    max_error_rate: Annotated[float | None, typer.Option(
        help="Task error rate above which the run is incomplete (default: the suite's, else 0.05).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders are.")] = RUNS_DIR,
    json_out: Annotated[bool, typer.Option("--json", help="Print the gate report as JSON.")] = False,
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", help="Gate a partial run (fewer tasks/variants/epochs than the suite declares) on what "
                                "ran, instead of exiting 3. Damaged, running and failed runs still exit 3.")] = False,
    suite: Annotated[str | None, typer.Option("--suite", help="With latest: only the newest run of this suite.")] = None,
    evals: Annotated[Path, typer.Option(
        help="With latest: the folder whose test_*.py suites the project declares (as pytest finds them).")]
        = Path("evals"),
    allow_dataset_change: Annotated[bool, typer.Option(
        "--allow-dataset-change", help=ALLOW_DATASET_CHANGE)] = False,
) -> None:
    """Check gates. Exit 0 all pass · 1 a gate failed · 2 configuration error · 3 run incomplete.

    `latest` gates the newest run of every suite (those in --evals and those with runs), prints
    one table and exits with the worst code; a declared suite with no run exits 3. A run that is
    partial, damaged, still running or failed exits 3 and says what is missing.
    Example: `harness gate latest` · `harness gate latest --suite router --baseline reports/baseline`
    """
    from harness.core.run_settings import check_setting

    check_setting("max_error_rate", max_error_rate, label="--max-error-rate")
    if run in (None, "latest") and suite is None:
        raise typer.Exit(_gate_project(runs_dir, evals, baseline, max_error_rate, allow_partial, json_out,
                                       allow_dataset_change))
    path = _resolve_run(run, runs_dir, suite)
    with _columns_ready(path, baseline):
        from harness.gate import evaluate_gates
    report_ = evaluate_gates(path, baseline=baseline, max_error_rate=max_error_rate,
                             allow_partial=allow_partial, allow_dataset_change=allow_dataset_change)
    if json_out:
        console.print_json(report_.model_dump_json())
    else:
        _render_gates(report_)
        style = {0: "green", 1: "red"}.get(int(report_.exit_code), "yellow")
        console.print(f"run {report_.run_id}: [bold]{report_.status}[/]")
        console.print(f"[{style}]{report_.verdict}[/]", highlight=False)
    raise typer.Exit(int(report_.exit_code))


def _gate_project(runs_dir: Path, evals: Path, baseline: Path | None, max_error_rate: float | None,
                  allow_partial: bool, json_out: bool, allow_dataset_change: bool) -> int:
    """``harness gate latest``: every suite's newest run, one table, the worst exit code."""
    from harness.core.results import latest_runs

    problems: list[str] = []
    declared: list[str] = []
    newest = {name: folder.path for name, folder in latest_runs(runs_dir).items()}
    with _columns_ready(*newest.values(), baseline):  # the suites' imports too
        from harness.engine.loader import project_suites
        from harness.gate.project import evaluate_project

        if evals.is_dir():
            sys.path.insert(0, str(Path.cwd()))
            try:
                declared = project_suites(evals)
            except Exception as exc:  # noqa: BLE001 - any import error of a suite file is a configuration error
                problems.append(f"cannot load the suites in {evals}: {type(exc).__name__}: {exc}")
    project = evaluate_project(newest, declared or None, baseline=baseline, max_error_rate=max_error_rate,
                               allow_partial=allow_partial, problems=problems,
                               allow_dataset_change=allow_dataset_change)
    if json_out:
        console.print_json(project.model_dump_json())
        return int(project.exit_code)
    table = Table(title="Gates of every suite (newest run each)")
    for column in ("suite", "run", "status", "exit", "verdict"):
        table.add_column(column)
    for item in project.suites:
        colour = {0: "green", 1: "red"}.get(int(item.exit_code), "yellow")
        status = item.report.status if item.report is not None else "no run"
        table.add_row(escape(item.suite), escape(item.run_id or "—"), status,
                      f"[{colour}]{int(item.exit_code)}[/]", escape(item.verdict))
    console.print(table)
    for line in project.problems:
        console.print(f"[yellow]•[/] {escape(line)}")
    for item in project.suites:
        for line in item.report.messages() if item.report is not None else []:
            console.print(f"[red]•[/] {escape(f'[{item.suite}] {line}')}", highlight=False)
    style = {0: "green", 1: "red"}.get(int(project.exit_code), "yellow")
    console.print(f"[{style}]{escape(project.verdict)}[/]", highlight=False)
    return int(project.exit_code)


@app.command()
def view(
    runs_dir: Annotated[Path, typer.Argument(help="The folder of run folders to browse, or a capture folder "
                                                  "(harness.capture) to browse its production traces.")] = RUNS_DIR,
    traces: Annotated[Path | None, typer.Option(
        "--traces", help="A capture folder to browse beside the runs (production traces).")] = None,
    port: Annotated[int, typer.Option(help="Port to listen on (1-65535).")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to bind; the default keeps the viewer on this machine.")] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="Another host name requests may use (a DNS alias, a proxy); repeatable. "
                             "This machine's own names and addresses are always allowed.")] = None,
) -> None:
    """Browse runs in a local web app: results, transcripts, variants side by side, live runs; and
    production traces (a capture folder), filtered as `harness traces list` filters them.

    Read-only: it never writes into run or capture folders. Example: `harness view reports/runs --port 8765` ·
    `harness view traces/` · `harness view reports/runs --traces traces/`
    """
    import socket

    from harness.core.run_settings import check_setting
    from harness.view.traces import is_capture_folder

    runs: Path | None = runs_dir
    if traces is None and is_capture_folder(runs_dir):
        runs, traces = None, runs_dir
    if runs == RUNS_DIR and traces is not None and not runs.is_dir():
        runs = None  # `harness view --traces traces/` in a project that has no runs yet
    if runs is not None and not runs.is_dir():
        raise UsageError(f"no folder {runs}: give the folder that holds run folders (default {RUNS_DIR}), "
                         "or a capture folder")
    if traces is not None and not is_capture_folder(traces):
        raise UsageError(f"{traces} is not a capture folder: give the folder harness.capture.install writes "
                         "(it holds *.jsonl trace files), or one .jsonl file")
    check_setting("port", port, label="--port")
    try:  # a clear message before any work, rather than a server that dies on start
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] binding {host} lets other machines read these runs (inputs, outputs, prompts)")
    from harness.view import serve

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    what = " and ".join(part for part in (runs and f"runs from {runs}", traces and f"traces from {traces}") if part)
    console.print(f"harness view: [bold]http://{shown}:{port}/[/] — {what} (Ctrl-C to stop)")
    serve(runs, traces_dir=traces, host=host, port=port, open_browser=not no_browser, allow_hosts=allow_host or ())


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


