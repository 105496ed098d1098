"""The ``local_model`` fixture: one real llama.cpp server (SmolLM2-135M) for the whole session.

Use it in any test marked ``@pytest.mark.local_model``::

    @pytest.mark.local_model
    def test_something(local_model):
        config = RuntimeConfig(base_url=local_model.base_url, backend="llama-cpp", record_mode="off")

To use it from another test folder, import it into that folder's ``conftest.py`` (run pytest from
the repository root, which ``python -m pytest`` puts on ``sys.path``)::

    from tests.testing.local_model.conftest import local_model  # noqa: F401

Everyone shares one server: the fixture holds :func:`harness.testing.local_model.shared`, which starts
the server (in the background, state in ``.harness/local-model/``) for its first user and stops
it after its last, across fixtures, folders and pytest-xdist workers alike. A server started with
``harness local-model start`` is reused and left running.

If llama-cpp-python or the weights are missing, the fixture fails with
:class:`~harness.testing.local_model.LocalModelUnavailable` and says how to install them; it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.testing.local_model import LocalModel, shared


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalModel]:
    with shared() as model:
        yield model
