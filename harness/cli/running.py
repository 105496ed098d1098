"""``harness init`` and ``harness run``: a suite run, its errors, and the gates and report after it."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli.app import (
    RUN_FLAGS,
    RUNS_DIR,
    ExecutorKind,
    _asyncio_run,
    _ray_options,
    _render_gates,
    _runtime,
    _suite,
    app,
    console,
    err,
    log,
)
from harness.engine import speedups
from harness.engine.cassette.record_mode import RecordMode
from harness.prefork import Prefork, PreforkFailed


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project (made if missing).")] = Path("."),
) -> None:
    """Start a new eval project: a dataset, a flow, two prompt versions, a suite with graders and gates,
    its cassettes (recorded from the built-in stub server) and a CI workflow. Never overwrites a file.

    Example: `harness init my-evals && cd my-evals && pytest evals/ && harness gate latest`
    """
    from harness.scaffold import WORKFLOW, init_project

    made = init_project(directory)
    console.print(f"Created an eval project in [bold]{directory}[/] ({len(made.files)} files, cassettes recorded "
                  f"from the stub server, run {made.run_path.name}).", highlight=False, soft_wrap=True)
    console.print("Next:" + (f" cd {directory} &&" if directory != Path(".") else "")
                  + " pytest evals/ && harness gate latest", highlight=False, markup=False, soft_wrap=True)
    if made.harness.requirement is None:
        console.print(f"CI: set HARNESS_REQUIREMENT in {directory / WORKFLOW} to where CI can install "
                      f"orchestration-harness from (this harness was {made.harness.origin}).",
                      highlight=False, markup=False, soft_wrap=True)


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
    workers: Annotated[int | None, typer.Option(help="Processes to spread the run over (0: one per core; default 1). "
                                                     "Replays are CPU-bound: more workers use more cores. With "
                                                     "--executor ray: Ray workers (default one per cluster CPU).")] = None,
    executor: Annotated[ExecutorKind, typer.Option(help="Where units run: local (this machine) or ray "
                                                        "(a Ray cluster; needs the harness[ray] extra).")] =
        ExecutorKind.LOCAL,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to run on, HOST:PORT of the head node "
                                                         "(default: start Ray on this machine).")] = None,
    ray_runtime_env: Annotated[str | None, typer.Option(help="Ray runtime_env for the workers: JSON, or a JSON "
                                                             "file (see docs/ray.md).")] = None,
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
    gate: Annotated[bool, typer.Option(help="Exit with the gates' exit code: 0 pass · 1 a gate failed · "
                                            "2 configuration · 3 incomplete (--no-gate: exit 0 once the run "
                                            "finished).")] = True,
    baseline: Annotated[Path | None, typer.Option(help="Baseline run for no-regression gates.")] = None,
    progress: Annotated[bool | None, typer.Option(help="Show a progress bar (default: on a terminal).")] = None,
    label: Annotated[str | None, typer.Option(help="A name for the run, shown beside its id (run.json).")] = None,
    notes: Annotated[str | None, typer.Option(help="What the run is for, shown on its page (run.json).")] = None,
) -> None:
    """Run a suite into a run folder, write its report, and exit with its gates' code.

    Exit 0 every gate passes · 1 a gate failed · 2 configuration error · 3 the run is incomplete
    (task errors above the suite's budget, units with no recording, every unit errored);
    `--no-gate` exits 0 whatever the gates say.

    `--variant`, `--ids` and `--tag` take several values each, up to the next option or the
    suite file (`--ids t1 t2`, or `--ids t1 --ids t2`).

    Example: `harness run evals/test_support.py --variant triage@v1 triage@v2 --record-mode once --concurrency 4`
    """
    from harness.core.run_settings import check_settings

    check_settings({"concurrency": concurrency, "workers": workers, "epochs": epochs, "timeout_s": timeout,
                    "sample": sample, "limit": limit, "max_cost_usd": max_cost, "max_tokens": max_tokens},
                   RUN_FLAGS)
    ray_env = _ray_options(executor, ray_address, ray_runtime_env)
    # Then, before the runner is imported: a helper that imports the report's libraries on
    # another core while this process runs the suite, and writes the report at the end.
    helper = Prefork.start(functools.partial(_import_report_libraries, report=report, plots=report and plots)) \
        if speedups.enabled("prefork") else None
    try:
        from harness.engine.runner import RunOptions, Shard, run_suite

        target = _suite(suite_file, suite)
        options = RunOptions(
            concurrency=concurrency, workers=workers, epochs=epochs, record_mode=record_mode.value,
            executor=executor.value, ray_address=ray_address, ray_runtime_env=ray_env,
            variants=variant, tags=tag or (), ids=ids or (), limit=limit, sample=sample, seed=seed,
            timeout_s=timeout, max_cost_usd=max_cost, max_tokens=max_tokens, resume=resume, runs_dir=runs_dir,
            shard=Shard.parse(shard) if shard else None, all_tasks=all_tasks,
            progress=sys.stderr.isatty() if progress is None else progress, label=label, description=notes,
            runtime=_runtime(record_mode.value, base_url, backend, cassettes, timeout),
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
            finished: tuple[int | None, str] = helper.call(_finish_captured, run_path, report, plots, baseline)
            exit_code, output = finished
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
    from harness.engine.speedups import sparse_gc
    from harness.gate import evaluate_gates

    with sparse_gc():  # reading and reporting allocate much and free little: speedups.sparse_gc says what it buys
        data = load_run_data(run_path)  # read once, for the gates and the report
        gate_report = evaluate_gates(data, baseline=baseline)
        if report:
            from harness.report.writer import write_report
            from harness.view.catalog import store_summary

            paths = write_report(data, gates=gate_report, plots=plots, baseline=baseline)
            store_summary(run_path, data)  # `harness view` reads it: the first open of this run analyses nothing
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

