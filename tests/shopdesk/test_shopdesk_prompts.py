"""Every pattern has at least two prompt versions, each with exactly the parts its flow reads."""

from __future__ import annotations

import pytest

from harness.core.prompts import PromptError
from shopdesk.prompt_library import PATTERN_PARTS, PROMPTS_DIR, load_prompt, versions

PATTERNS = sorted(PATTERN_PARTS)


def test_every_pattern_has_a_prompt_folder() -> None:
    assert sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir()) == PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
def test_versions_have_every_part(pattern: str) -> None:
    found = versions(pattern)
    assert {"v1", "v2"} <= set(found)
    for version in found.values():
        assert set(version.parts) == set(PATTERN_PARTS[pattern]), version.label
        for part, text in version.parts.items():
            assert len(text.strip()) > 40, f"{version.label}/{part} is nearly empty"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_v2_is_a_real_revision(pattern: str) -> None:
    v1, v2 = load_prompt(pattern, "v1"), load_prompt(pattern, "v2")
    assert v1.sha256 != v2.sha256
    assert all(v1[part] != v2[part] for part in PATTERN_PARTS[pattern]), "every part should be revised in v2"


def test_missing_version_is_a_clear_error() -> None:
    with pytest.raises(PromptError):
        load_prompt("triage", "v99")


def test_retry_template_has_the_error_slot() -> None:
    for version in versions("self_correct").values():
        assert "{error}" in version["retry"]
