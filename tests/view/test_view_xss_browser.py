"""No page of ``harness view`` runs script planted in a run, in a real browser (headless chromium).

Every field a run can carry holds markup (:mod:`tests.view.hostile_run`): run id, suite, label,
notes, variant and prompt names, prompt text, task ids, tags, input, expected, output, state,
task and grader errors, grader names and reasons, metadata, and a trajectory with agents, model
calls (Chat and Responses request items), tool names, arguments and results, a handoff, a
guardrail and a custom event. Each page is opened with everything on it expanded, and must show
the markup as text, hold no element it would have made, and have run none of its script. The
URL path is planted too, on the error pages. The production traces' pages get the same treatment:
a capture folder with markup in every field a trace carries (id, workflow, metadata, input,
output, error, spans, the feedback's comment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.view.conftest import Viewer, serve
from tests.view.hostile_run import (
    PAYLOAD,
    RUN_ID,
    SHOWN,
    TASKS,
    TRACE_IDS,
    VARIANTS,
    make_hostile_capture,
    make_hostile_run,
)

pytestmark = pytest.mark.browser

WAIT_S = 90


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    runs = tmp_path_factory.mktemp("hostile-runs")
    make_hostile_run(runs)
    yield from serve(runs)


@pytest.fixture(scope="module")
def hostile_traces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    """The hostile run beside a hostile capture folder (``harness view RUNS --traces FOLDER``)."""
    runs = tmp_path_factory.mktemp("hostile-runs-with-traces")
    make_hostile_run(runs)
    capture = tmp_path_factory.mktemp("hostile-capture")
    make_hostile_capture(capture)
    yield from serve(runs, traces=capture)


def _wait(driver: Any, condition: Callable[[Any], Any], message: str) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT_S, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
    return wait.until(condition, message)


def _expand(driver: Any) -> None:
    """Open every collapsed part (details, side by side), twice: opening one can draw more."""
    for _ in range(3):
        driver.execute_script("document.querySelectorAll('details').forEach(function(d){ d.open = true; });")


def assert_inert(driver: Any, page: str, shown: str | None = SHOWN) -> None:
    """The page parsed none of the planted markup and ran none of its script; it shows it as text."""
    _expand(driver)
    made = driver.execute_script("return document.querySelectorAll('[data-xss]').length")
    ran = driver.execute_script("return window.__xss === undefined ? null : window.__xss")
    blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]
               or "Refused to" in e["message"]]
    assert (made, ran, blocked) == (0, None, []), f"{page}: planted markup became page content"
    if shown is not None:
        assert shown in driver.find_element("tag name", "body").text, f"{page}: the planted text is not shown"


def _open(driver: Any, url: str, ready: Callable[[Any], Any], message: str) -> None:
    driver.get(url)
    driver.get_log("browser")  # only this page's messages count
    _wait(driver, ready, message)


def _has(selector: str) -> Callable[[Any], Any]:
    return lambda d: d.find_elements("css selector", selector)


def test_no_page_of_the_viewer_runs_planted_script(chromium: Any, hostile: Viewer) -> None:
    run = quote(RUN_ID, safe="")
    base = hostile.url

    _open(chromium, base + "/", lambda d: "rows" in d.find_element("id", "runs").text
          and "…" not in d.find_element("id", "runs").text, "home page")
    assert_inert(chromium, "home")

    _open(chromium, f"{base}/runs/{run}", _has("#results tr.row"), "the run's table")
    _wait(chromium, _has("#comparisons table"), "the run's summary")
    assert_inert(chromium, "run page (rows)")
    chromium.find_element("id", "search").send_keys("task")  # a search redraws the table from the server
    _wait(chromium, lambda d: "match" in d.find_element("id", "count").text, "search")
    assert_inert(chromium, "run page (searched)")

    _open(chromium, f"{base}/runs/{run}?view=grid", _has("#results .attempt"), "the grid")
    assert_inert(chromium, "run page (grid)")

    lines = len(VARIANTS) * len(TASKS)
    for line in range(lines):
        _open(chromium, f"{base}/runs/{run}/rows/{line}", _has("details.span-model"), f"transcript {line}")
        search = chromium.find_element("id", "transcript-search")
        search.send_keys("data-xss")
        _wait(chromium, lambda d: "match" in d.find_element("id", "transcript-hits").text, "transcript search")
        assert_inert(chromium, f"transcript of row {line}")

    pair = f"task={quote(TASKS[0], safe='')}&a={quote(VARIANTS[0], safe='')}&b={quote(VARIANTS[1], safe='')}"
    _open(chromium, f"{base}/runs/{run}/compare?{pair}", _has(".pair table.pair-steps"), "side by side")
    assert_inert(chromium, "side by side")

    _open(chromium, f"{base}/runs/{run}/matrix", _has("#matrix td.cell"), "matrix")
    assert_inert(chromium, "matrix")

    prompts = f"a={quote(VARIANTS[0], safe='')}&b={quote(VARIANTS[1], safe='')}"
    _open(chromium, f"{base}/runs/{run}/prompts?{prompts}", _has("#prompt-diff pre.diff"), "prompt diff")
    assert_inert(chromium, "prompt diff")


@pytest.mark.parametrize("path", [
    "/assets/" + quote(PAYLOAD, safe=""),
    "/runs/" + quote(PAYLOAD, safe="") + "/nothing/here",
    "/" + quote(PAYLOAD, safe=""),
])
def test_error_pages_show_the_planted_path_as_text(chromium: Any, hostile: Viewer, path: str) -> None:
    chromium.get(hostile.url + path)
    chromium.get_log("browser")
    _wait(chromium, lambda d: d.find_element("tag name", "body").text, "no error page")
    assert_inert(chromium, path, shown=None)


def test_a_planted_run_id_in_a_page_address_is_text(chromium: Any, hostile: Viewer) -> None:
    """/runs/<markup> is the app's own page for a run that does not exist: it says so, as text."""
    _open(chromium, hostile.url + "/runs/" + quote(PAYLOAD, safe=""), _has(".problems"), "no error shown")
    assert_inert(chromium, "run page of a planted id")
    assert "data-xss" in chromium.find_element("tag name", "h1").text


def test_responses_items_read_as_a_tool_call_and_its_result(chromium: Any, hostile: Viewer) -> None:
    """Request items without a role (function_call, function_call_output) are the call and the
    result, not raw JSON under the role "?"; a guardrail says it tripped and why."""
    _open(chromium, f"{hostile.url}/runs/{quote(RUN_ID, safe='')}/rows/0", _has("li.message"), "no messages")
    roles = [r.text for r in chromium.find_elements("css selector", "details.span-model li.message .role")]
    assert roles[:4] == ["SYSTEM", "USER", "ASSISTANT · TOOL CALL", "TOOL · TOOL RESULT"]
    assert "?" not in roles
    call = chromium.find_elements("css selector", "details.span-model li.message")[2]
    assert call.find_element("css selector", "pre.tool-calls").text.startswith("fn" + PAYLOAD[:5])
    user = chromium.find_elements("css selector", "details.span-model li.message")[1]
    assert user.find_element("css selector", "pre.content").text.startswith("user-part")  # content parts as text
    guard = chromium.find_element("css selector", "details.span-guardrail")
    assert "triggered" in guard.find_element("css selector", "summary").text
    assert "guard-reason" in guard.find_element("css selector", "pre.guard-reason").get_attribute("textContent")
    blocked = guard.find_element("css selector", "pre.guard-blocked").get_attribute("textContent")
    assert blocked.startswith("guard-blocked") and PAYLOAD in blocked, "the blocked output, as text"
    event = chromium.find_element("css selector", "details.span-custom")
    assert "strand 0.1" in event.find_element("css selector", "summary").text


def test_no_page_of_the_production_traces_runs_planted_script(chromium: Any, hostile_traces: Viewer) -> None:
    base = hostile_traces.url
    _open(chromium, base + "/", _has("#runs a.traces-link"), "the home page's link to the traces")
    assert_inert(chromium, "home (with traces)")

    _open(chromium, base + "/traces", _has("#traces a.trace-link"), "the traces list")
    assert_inert(chromium, "traces list")
    chromium.find_element("id", "trace-errors").click()  # the server filters; the table is drawn again
    _wait(chromium, lambda d: d.find_element("id", "trace-count").text.startswith("1 of 2"), "errors filter")
    assert_inert(chromium, "traces list (errors)")
    chromium.find_element("id", "trace-text").send_keys("feedback")
    _wait(chromium, lambda d: "1 of 2" in d.find_element("id", "trace-count").text
          and "text=feedback" in d.current_url, "text filter")
    assert_inert(chromium, "traces list (errors, text)")

    for trace_id in TRACE_IDS:
        _open(chromium, f"{base}/traces/{quote(trace_id, safe='')}", _has("details.span-model"), f"trace {trace_id}")
        search = chromium.find_element("id", "transcript-search")
        search.send_keys("data-xss")
        _wait(chromium, lambda d: "match" in d.find_element("id", "transcript-hits").text, "transcript search")
        assert_inert(chromium, f"trace {trace_id}")
        assert "feedback" + PAYLOAD[:5] in chromium.find_element("css selector", "table.feedback").text

    _open(chromium, f"{base}/traces/{quote(PAYLOAD, safe='')}", _has(".problems"), "no error shown")
    assert_inert(chromium, "trace page of a planted id")
