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

from harness.context import RequestContext
from harness.dataset import ChatMessage, Dataset, DatasetError, Task, load_dataset
from harness.flow import FlowContext, flow
from harness.graders.base import Attempt, Score, grader
from harness.prompts import PromptVersion, prompt_versions
from harness.results import ResultRow, RunFolder, RunManifest, load_run
from harness.runner import RunOptions, RunResult, Shard, run_suite, run_suite_sync
from harness.runtime import Runtime, RuntimeConfig
from harness.suite import ModelSettings, Suite, SuiteError, Variant
from harness.trace import Span, Trajectory, event, span

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
