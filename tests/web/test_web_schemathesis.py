"""schemathesis over the dashboard's OpenAPI description, against the live demo: generated valid and invalid
requests to every endpoint; no 5xx, every status documented, every body matching its schema.

Hypothesis strategies per operation (``APIOperation.as_strategy``) rather than ``schemathesis.pytest
.from_fixture``, whose lazy loader does not run under pytest 9 (it reads ``Function._nodeid``).
"""

from __future__ import annotations

import requests
import schemathesis
import schemathesis.specs.openapi.schemas  # see below
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode
from webdemo import LiveDemo

# schemathesis loads its OpenAPI machinery lazily, and pytest rewrites (compiles) those modules on first import.
# Imported here, at collection, that happens before the demo thread runs: CPython 3.11.7's compiler is not
# thread-safe (gh-106905, "AST constructor recursion depth mismatch").

MAX_EXAMPLES = 30  # per endpoint and mode: keeps the run to a few seconds


def run(cases: SearchStrategy[Case], codes: set[int], session: requests.Session) -> None:
    """Every generated case sent and validated (status documented, body matching its schema, no 5xx)."""

    @given(case=cases)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Case) -> None:
        codes.add(case.call_and_validate(session=session, timeout=10).status_code)

    check()


def test_api_matches_its_openapi_description(live: LiveDemo) -> None:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {"/api/opportunities", "/api/snapshot", "/api/status",
                                              "/api/symbols/{symbol}", "/api/alerts", "/api/tracking"}  # fmt: skip
    session = requests.Session()
    calls: dict[tuple[str, str], set[int]] = {}
    for op in operations:
        modes = [GenerationMode.POSITIVE]
        if len(op.query) or len(op.path_parameters):  # an operation without parameters has no invalid request
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            run(op.as_strategy(generation_mode=mode), calls.setdefault((op.path, mode.value), set()), session)
    print("\nstatus codes seen:", {f"{path} {mode}": sorted(codes) for (path, mode), codes in calls.items()})
    assert all(code < 500 for codes in calls.values() for code in codes)
    assert 422 in calls[("/api/opportunities", "negative")]  # bad input was generated and refused
    assert 200 in calls[("/api/symbols/{symbol}", "positive")] or 404 in calls[("/api/symbols/{symbol}", "positive")]
