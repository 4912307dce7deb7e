"""The live web dashboard: ranked opportunities pushed over WebSocket, a page per pair, a REST API.

:class:`server.Dashboard` serves it from inside the running loop over a :class:`source.Source` (in-process:
:class:`source.PipelineSource`). The parts: :mod:`model` (table diffs), :mod:`series` (a pair's candles,
RSI and MACD), :mod:`pairs` (a pair page's channel), :mod:`hub` (bounded per-client queues), :mod:`service`
(scanner passes to frames), :mod:`api` and :mod:`schemas` (REST), :mod:`ws`, :mod:`pages`, :mod:`auth`,
:mod:`i18n`, :mod:`asgi`, :mod:`tracking` (live precision next to the backtest's), and :mod:`options` (the
command-line flags). Nothing is imported here, so the command line can read :mod:`options` without loading
FastAPI.
"""
