"""Agreement between two raters (a judge and human labels): Cohen's kappa with its interval.

Split from :mod:`harness.analysis.stats`, which re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

import numpy as np
from pydantic import BaseModel, BeforeValidator
from scipy import stats as sps

__all__ = ["Kappa", "cohen_kappa"]

#: A float that JSON carries as ``null`` when NaN and reads back as NaN.
Num = Annotated[float, BeforeValidator(lambda v: math.nan if v is None else v)]


def _z(q: float) -> float:
    return float(sps.norm.ppf(q))


class Kappa(BaseModel):
    """Cohen's kappa with its interval; NaN (and ``reason``) when it is undefined."""

    kappa: Num
    low: Num
    high: Num
    n: int
    agreement: Num
    confidence: Num = 0.95
    reason: str | None = None


def cohen_kappa(confusion: Sequence[Sequence[float]], confidence: float = 0.95) -> Kappa:
    """Cohen's kappa of a square confusion matrix with a large-sample interval.

    Variance from Fleiss, Cohen & Everitt (1969), Psychol Bull 72:323 (statsmodels'
    ``cohens_kappa`` gives the same). Undefined, so NaN with a plain reason, when the matrix is
    empty or chance agreement is 1 (both raters used one and the same label): perfect agreement
    on a single label says nothing about telling labels apart.
    """
    table = np.asarray(confusion, dtype=float)
    n = float(table.sum())
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {table.shape}")
    nan = math.nan
    if n == 0:
        return Kappa(kappa=nan, low=nan, high=nan, n=0, agreement=nan, confidence=confidence,
                     reason="no labelled items")
    p = table / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    observed = float(np.trace(p))
    expected = float(rows @ cols)
    if expected >= 1.0 - 1e-12:
        return Kappa(kappa=nan, low=nan, high=nan, n=int(n), agreement=observed, confidence=confidence,
                     reason="undefined: the human and the judge each used a single label, so there is no "
                            "chance-corrected agreement to measure")
    kappa = (observed - expected) / (1 - expected)
    diag = np.diag(p)
    term1 = float(np.sum(diag * (1 - (rows + cols) * (1 - kappa)) ** 2))
    off = p.copy()
    np.fill_diagonal(off, 0.0)
    term2 = (1 - kappa) ** 2 * float(np.sum(off * (cols[:, None] + rows[None, :]) ** 2))
    term3 = (kappa - expected * (1 - kappa)) ** 2
    variance = max(0.0, (term1 + term2 - term3) / (n * (1 - expected) ** 2))
    half = _z(0.5 + confidence / 2) * math.sqrt(variance)
    return Kappa(kappa=kappa, low=max(-1.0, kappa - half), high=min(1.0, kappa + half), n=int(n),
                 agreement=observed, confidence=confidence)
