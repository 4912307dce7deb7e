"""Confidence levels from the momentum score: FUERTE >= 85, ALTA >= 70, MEDIA >= 50, BAJA >= 30, else
DESCARTADA (thresholds from config). Levels are small ints so a whole market is classified in one call."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from cryptoscan.config_scanner import LevelRules


class Level(IntEnum):
    DESCARTADA = 0
    BAJA = 1
    MEDIA = 2
    ALTA = 3
    FUERTE = 4


LEVELS_HIGH_FIRST = tuple(sorted(Level, reverse=True))


def classify(score: NDArray[np.float64], rules: LevelRules) -> NDArray[np.int8]:
    """Level of each score; a score exactly at a threshold belongs to the higher level. NaN is DESCARTADA
    (it reaches no threshold). Thresholds rise level by level (config checks it), so the level is the count of
    thresholds reached."""
    out = (score >= rules.baja).view(np.int8)
    for edge in (rules.media, rules.alta, rules.fuerte):
        out += (score >= edge).view(np.int8)
    return out
