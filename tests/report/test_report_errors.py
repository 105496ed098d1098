"""Errors where the user looks: each errored task with its message, in Markdown and HTML, and how to rerun them."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.errors import error_digest, one_line
from harness.analysis.summary import analyse, build_summary
from harness.core.results import RunFolder
from harness.report.html import render_html
from harness.report.markdown import render_markdown


def test_the_digest_lists_task_errors_first_then_grader_errors(ab_run: Path) -> None:
    digest = error_digest(RunFolder.open(ab_run).rows(), suite="triage", suite_file="evals/test_triage.py",
                          run_id="r1")
    assert digest.task_errors == 2 and digest.by_kind == {"timeout": 2}
    assert [(e.task_id, e.source) for e in digest.entries[:2]] == [("task-0003", "task"), ("task-0007", "task")]
    assert {e.source for e in digest.entries[2:]} == {"grader"}
    assert digest.entries[0].describe() == "timeout · TimeoutError: task-0003 timed out after 30 s"
    assert digest.failed_ids == {"triage@v2": ["task-0003", "task-0007"]}
    assert digest.rerun == ("harness run evals/test_triage.py --suite triage --variant triage@v2 "
                            "--ids task-0003 task-0007")
    assert digest.resume == "harness run evals/test_triage.py --suite triage --resume r1"


def test_the_digest_keeps_a_bounded_number_of_entries(ab_run: Path) -> None:
    digest = error_digest(RunFolder.open(ab_run).rows(), keep=1)
    assert len(digest.entries) == 1 and digest.total > 1


def test_one_line_takes_the_first_line_and_cuts_it() -> None:
    assert one_line("\n  boom: it broke\nTraceback ...") == "boom: it broke"
    assert one_line("x" * 500, width=10) == "x" * 9 + "…"


def test_markdown_lists_each_errored_task_with_its_message(ab_run: Path) -> None:
    markdown = render_markdown(build_summary(ab_run))
    errors = markdown[markdown.index("## Errors"):markdown.index("## Tasks that flipped")]
    assert "| triage@v2 | `task-0003` | #1 timeout · TimeoutError: task-0003 timed out after 30 s" in errors
    assert "grader helpfulness · TimeoutError: judge timed out" in errors
    assert "Run just the tasks that errored: `harness run" in errors and "--ids task-0003 task-0007`" in errors


def test_html_lists_each_errored_task_with_its_message(ab_run: Path) -> None:
    page = render_html(analyse(ab_run))
    section = page[page.index('<section id="errors">'):]
    section = section[:section.index("</section>")]
    assert "task-0003" in section and "timeout · TimeoutError: task-0003 timed out after 30 s" in section
    assert "2 task errors (timeout: 2)" in section
