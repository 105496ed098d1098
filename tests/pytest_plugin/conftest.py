"""Plugin tests drive pytest inside pytest with ``pytester``.

``pytest_plugins = ["pytester"]`` is only allowed in the rootdir's conftest, which this folder
does not own; registering the plugin when this conftest is configured works the same whether
``tests/pytest_plugin`` runs alone or as part of ``tests/``.

In-process pytester runs drop every module the inner session imported when they end, and
numpy/pyarrow cannot be imported twice in one process. Importing what a suite run and its
report need here keeps them in the snapshot pytester restores (and saves re-importing them).
"""

from __future__ import annotations

import pytest

from harness import gate  # noqa: F401 - imported for the snapshot (see above)
from harness.engine import runner, sdk_tracing  # noqa: F401
from harness.report import writer  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
