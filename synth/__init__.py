"""Synthetic drone surveys of poppy-growing uplands, with ground truth.

No public labelled poppy orthomosaic exists; tests, benchmarks and the demo
model are built on these. ``generate_survey`` writes a tiled, compressed
GeoTIFF with a nodata collar plus GeoJSON of every poppy plot and look-alike;
``composite_survey`` sows the same plots into a real orthomosaic.
"""

from poppyscan.synth.composite import CompositeResult, composite_survey
from poppyscan.synth.conditions import Conditions
from poppyscan.synth.elements import DISTRACTOR_KINDS, PETAL_COLORS, STAGES
from poppyscan.synth.survey import GSD_RANGE_M, SurveyResult, generate_survey

__all__ = ["CompositeResult", "Conditions", "DISTRACTOR_KINDS", "GSD_RANGE_M", "PETAL_COLORS",
           "STAGES", "SurveyResult", "composite_survey", "generate_survey"]
