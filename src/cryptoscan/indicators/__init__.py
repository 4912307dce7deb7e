"""Incremental indicators for many rows at once (one row = one symbol's series on one interval).

Fixed state per row in numpy arrays, O(1) work per bar: ``update`` commits a closed bar, ``peek`` evaluates
the open bar without committing, ``reset`` frees a row. :class:`IndicatorBank` composes every indicator the
scanner uses; the definitions live in each module's docstring.
"""

from .bank import IndicatorBank
from .macd import NO_CROSS
from .params import IndicatorParams
from .values import IndicatorValues

__all__ = ["NO_CROSS", "IndicatorBank", "IndicatorParams", "IndicatorValues"]
