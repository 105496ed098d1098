"""The analysis of finished runs: load a run folder, per-task values, statistics, comparisons.

Gates (:mod:`harness.gate`) and reports (:mod:`harness.report`) both read runs through this
layer and neither imports the other; the verdict data they share is :mod:`harness.analysis.verdict`.
"""
