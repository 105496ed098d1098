"""The engine: flows and suites, the runtime (clients, transport, cassettes), the runner and workers.

It runs a suite's units and writes a run folder; it grades attempts through the grader protocol
of :mod:`harness.core.grading` and never imports the concrete graders. See ``docs/architecture.md``.
"""
