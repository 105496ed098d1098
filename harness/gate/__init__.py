"""Gates: the release decision on a run, from the analysis layer's numbers.

Declared in a suite (``gates=[Gate.metric(...), Gate.no_regression(...)]``) and evaluated by
:func:`evaluate_gates` into a :class:`GateReport` whose exit code CI reads. The report renders a
``GateReport`` without importing this package: both sit on :mod:`harness.analysis`.
"""

# The package's API is exactly evaluate's __all__.
from harness.gate.evaluate import *
from harness.gate.evaluate import __all__ as __all__
