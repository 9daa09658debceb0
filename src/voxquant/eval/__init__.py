"""Evaluation: classification metrics, paired statistics (bootstrap CI, exact McNemar), slices, latency.

Imports here stay light (numpy only; scipy is imported inside the functions that need it).
"""

from voxquant.eval.metrics import classification_metrics, confusion_matrix, softmax
from voxquant.eval.stats import (
    budget_verdict,
    describe_drop,
    discordant_counts,
    is_significant,
    mcnemar_exact,
    paired_bootstrap_drop,
    wilson_ci,
)

__all__ = [
    "budget_verdict",
    "classification_metrics",
    "confusion_matrix",
    "describe_drop",
    "discordant_counts",
    "is_significant",
    "mcnemar_exact",
    "paired_bootstrap_drop",
    "softmax",
    "wilson_ci",
]
