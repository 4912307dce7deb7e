"""Momentum scanner: indicator values -> score -> confidence level -> probability -> ranking.

Pure, vectorized functions over arrays with one row per (venue, symbol); :mod:`engine` keeps the rows and
the indicator bank, :mod:`live` feeds it from the aggregator.
"""
