"""Which precision OpenVINO runs a bundle in, and at which threshold: the card's evidence.

A lower precision is a different model: it gets its own threshold, picked on the
tuning surveys by the same rule as the card's ``thresholds.conf``, and it runs by
default only where its held-out scores stay within :data:`MAX_LOSS` of float32's.
``scripts/train_demo_model.py precision`` writes both into the export's entry::

    exports:
      openvino:
        precision: bf16             # the check's verdict: what precision=auto may run
        thresholds: {bf16: {conf: 0.55}}
        precision_check: {f32: {recall: ...}, bf16: {recall: ..., conf: 0.55}, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CHECKED", "MAX_LOSS", "auto_precision", "bf16_holds", "conf_for"]

CHECKED = ("recall_ge20", "precision_ge20", "recall", "precision")  # held-out scores compared
MAX_LOSS = 0.01  # the most any of them may drop against float32


def bf16_holds(entry: Mapping[str, Any]) -> bool:
    """Whether the export's card entry has a bf16 threshold whose held-out scores held.

    Each of :data:`CHECKED` at the bf16 threshold is at least float32's (at the
    card's threshold) minus :data:`MAX_LOSS`, and the check's verdict says bf16.
    """
    check = entry.get("precision_check") or {}
    f32, bf16 = check.get("f32") or {}, check.get("bf16") or {}
    if entry.get("precision") != "bf16" or "bf16" not in (entry.get("thresholds") or {}):
        return False
    return all(_number(f32.get(k)) and _number(bf16.get(k)) and bf16[k] >= f32[k] - MAX_LOSS
               for k in CHECKED)


def auto_precision(entry: Mapping[str, Any], cpu_has_bf16: bool) -> tuple[str, str | None]:
    """(the precision ``auto`` runs, why it is not the faster bf16 when it is not).

    bf16 only where the CPU computes it natively (AMX or AVX512-BF16): emulated,
    it is slower than float32.
    """
    holds = bf16_holds(entry)
    if holds and cpu_has_bf16:
        return "bf16", None
    if holds:
        return "f32", "f32: this CPU has no bfloat16 instructions (AMX or AVX512-BF16)"
    if cpu_has_bf16:
        return "f32", ("f32: the model card has no bf16 threshold that held within "
                       f"{MAX_LOSS} of f32 on held-out data (scripts/train_demo_model.py precision)")
    return "f32", None


def conf_for(entry: Mapping[str, Any], precision: str, card_conf: float) -> float:
    """The threshold for ``precision``: its own from the card when it has one, else the card's."""
    own = ((entry.get("thresholds") or {}).get(precision) or {}).get("conf")
    return float(own) if _number(own) else float(card_conf)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
