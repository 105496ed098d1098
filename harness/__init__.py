"""orchestration-harness: a pytest-native, eval-driven testing harness for LLM agent orchestrations.

The public API, in the order a task travels::

    Task, load_dataset                     datasets/*.jsonl -> validated tasks
    Suite, Variant, ModelSettings          what to run: flows x prompt versions x model settings
    PromptVersion                          prompt text files and their hashes
    flow, FlowContext                      the code under test and what it may use
    span, event                            custom trace spans from inside a flow
    grader, Score, Attempt                 turning an attempt into scores
    run_suite, RunOptions                  running a suite into a run folder
    load_run                               a run folder as a pandas DataFrame
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.core.context import RequestContext
    from harness.core.dataset import ChatMessage, Dataset, DatasetError, Task, load_dataset
    from harness.core.grading import Attempt, Score, grader
    from harness.core.model_settings import ModelSettings
    from harness.core.prompts import PromptVersion, prompt_versions
    from harness.core.results import ResultRow, RunFolder, RunManifest, load_run
    from harness.core.trace import Span, Trajectory, event, span
    from harness.engine.flow import FlowContext, flow
    from harness.engine.runner import RunOptions, RunResult, Shard, run_suite, run_suite_sync
    from harness.engine.runtime import Runtime, RuntimeConfig
    from harness.engine.suite import Suite, SuiteError, Variant

#: Every public name is imported on first use (PEP 562): ``import harness`` runs whenever any
#: ``harness.*`` module is imported — the CLI included — and importing the data model, the
#: engine and pydantic's schemas eagerly cost ``harness --help`` about 0.4 s of CPU
#: (bench/cli_start.py). ``from harness import Suite`` still works as before.
_LAZY = {
    "RequestContext": "harness.core.context",
    **dict.fromkeys(["ChatMessage", "Dataset", "DatasetError", "Task", "load_dataset"], "harness.core.dataset"),
    **dict.fromkeys(["Attempt", "Score", "grader"], "harness.core.grading"),
    "ModelSettings": "harness.core.model_settings",
    **dict.fromkeys(["PromptVersion", "prompt_versions"], "harness.core.prompts"),
    **dict.fromkeys(["ResultRow", "RunFolder", "RunManifest", "load_run"], "harness.core.results"),
    **dict.fromkeys(["Span", "Trajectory", "event", "span"], "harness.core.trace"),
    **dict.fromkeys(["FlowContext", "flow"], "harness.engine.flow"),
    **dict.fromkeys(["RunOptions", "RunResult", "Shard", "run_suite", "run_suite_sync"], "harness.engine.runner"),
    **dict.fromkeys(["Runtime", "RuntimeConfig"], "harness.engine.runtime"),
    **dict.fromkeys(["Suite", "SuiteError", "Variant"], "harness.engine.suite"),
}


__all__ = [
    "Attempt",
    "ChatMessage",
    "Dataset",
    "DatasetError",
    "FlowContext",
    "ModelSettings",
    "PromptVersion",
    "RequestContext",
    "ResultRow",
    "RunFolder",
    "RunManifest",
    "RunOptions",
    "RunResult",
    "Runtime",
    "RuntimeConfig",
    "Score",
    "Shard",
    "Span",
    "Suite",
    "SuiteError",
    "Task",
    "Trajectory",
    "Variant",
    "event",
    "flow",
    "grader",
    "load_dataset",
    "load_run",
    "prompt_versions",
    "run_suite",
    "run_suite_sync",
    "span",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
