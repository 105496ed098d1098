"""The data model: what every other layer reads and writes, importing none of them.

Tasks and datasets, prompt versions, model settings, the request context, traces, graded
attempts and scores, and run folders (results rows, manifests). See ``docs/architecture.md``.
"""
