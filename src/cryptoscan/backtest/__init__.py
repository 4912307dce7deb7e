"""Backtest: history in (download, importers, the store), the same scanner replayed bar by bar, outcomes, reports."""
