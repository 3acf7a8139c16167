"""Field verdicts as training data: confirmed plots become labels, false positives hard negatives.

The mission registry (:mod:`poppyscan.field.registry`) keeps every crew
verdict; :func:`~poppyscan.field.registry.verdict_features` picks those that
meet the analyst's :class:`~poppyscan.field.registry.EvidenceRule` and the
outlines drawn on the dataset's own orthomosaics. Here, at the API layer that sees
both ``field`` and ``train``, they join the labels and hard negatives a dataset is
built from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from poppyscan.errors import ConfigError
from poppyscan.field.registry import EvidenceRule, VerdictFeatures, verdict_features
from poppyscan.train.dataset.hard_negatives import HardNegatives
from poppyscan.train.labels import LabelSet

__all__ = ["add_verdicts", "verdict_labels"]

WGS84 = "EPSG:4326"


def verdict_labels(registry: str | os.PathLike, rule: EvidenceRule | Mapping | None = None, *,
                   orthos: Sequence[str | os.PathLike] | None = None,
                   class_name: str = "poppy") -> tuple[LabelSet, VerdictFeatures]:
    """Labels (class ``class_name``) of the confirmed targets, and every feature found."""
    rule = rule if isinstance(rule, EvidenceRule) else EvidenceRule(**dict(rule or {}))
    found = verdict_features(registry, rule, inputs=orthos)
    labels = LabelSet(found.positives, [class_name] * len(found.positives), WGS84,
                      source=f"{registry} (verdicts)")
    return labels, found


def add_verdicts(
    labels: Sequence[str | os.PathLike | LabelSet],
    hard: HardNegatives,
    registry: str | os.PathLike,
    orthos: Sequence[str | os.PathLike],
    rule: EvidenceRule | Mapping | None = None,
) -> tuple[list[str | os.PathLike | LabelSet], HardNegatives]:
    """``labels`` plus the registry's confirmed targets; ``hard`` plus its false positives.

    Only sightings over ``orthos`` count. ConfigError when no label file is given
    and the registry has no verdict meeting ``rule``.
    """
    from_registry, found = verdict_labels(registry, rule, orthos=orthos)
    if not labels and not len(from_registry):
        rejected = ", ".join(f"{n} {why}" for why, n in found.rejected.items()) or "none rejected"
        raise ConfigError(f"{registry}: no confirmed target over these orthomosaics meets the "
                          f"evidence rule ({rejected}); pass --labels or relax the rule")
    if len(found.negatives):
        hard = hard.plus(found.negatives, WGS84, f"{registry} (false positives)")
    return [*labels, from_registry] if len(from_registry) else list(labels), hard
