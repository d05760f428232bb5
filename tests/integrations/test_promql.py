"""Every PromQL query and the alerting rule of ``docs/observability.md``, run by a real
Prometheus scraping a real server after a scripted set of connections, and checked against what
happened; and the page's table of which query holds on which server, checked against the
servers' own reports.

For each server the script runs twice. The first run makes every series the second will touch,
before Prometheus starts: ``rate()`` and ``increase()`` need two samples of a series, so only
what happens after a series' first scrape can be measured. Then Prometheus scrapes, with the
page's relabelling, a few connections are held open across a scrape, the script runs again,
and every query is evaluated at the time of the last scrape.

At that time ``increase()`` over a window that starts before Prometheus did is what happened
times ``1 + 1 / (2 (n - 1))``, ``n`` being the samples of each series: Prometheus extrapolates
half a scrape interval before the first one. The tests compute that factor from ``n``; a ratio
of two such figures has none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integrations import promql_script as script
from tests.integrations.observability_docs import (
    QueryRow,
    alerting_rules,
    query_rows,
    relabelling,
    server_columns,
)
from tests.integrations.prometheus_process import Prometheus, run_prometheus
from tests.integrations.promql_script import ECHO, Close, count
from tests.support.servers import Server, run_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

ROWS = query_rows()
Answer = dict[tuple[str, ...], Any]

#: A quantile's answer: the bounds it must fall in, (lower, upper]. The ``hold`` route's
#: connections last 1.2 s; the echo route's include those held open across a scrape.
SHORT, HELD, LONG = (0.0, 1.0), (0.0, 5.0), (1.0, 5.0)


@dataclass
class Observed:
    """What Prometheus answered on one server, and what it needs to be read."""

    server_kind: str
    instance: str
    #: Every row's answer at the last scrape; the gauges also while connections were held.
    answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answers_while_held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The routes whose alert was pending once the rule had seen the second run.
    pending_alerts: set[str] = field(default_factory=set)
    #: Samples per series of the counter in the window: Prometheus's extrapolation.
    samples: int = 0
    folded_codes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def factor(self) -> float:
        return 1 + 1 / (2 * (self.samples - 1))


# --- what each query means, on the connections it is asked about ------------------------------


def _rate(where: Callable[[Close], bool], by: Callable[[Close], tuple[str, ...]], scale: float):
    """A ``rate()`` or ``increase()``: how many matched, times ``scale``, times the factor."""

    def answer(closes: list[Close], observed: Observed | None) -> Answer:
        factor = 1.0 if observed is None else observed.factor
        return {key: n * scale * factor for key, n in count(closes, where, by).items()}

    return answer


def _share(closes: list[Close], observed: Observed | None) -> Answer:
    raised = count(closes, lambda c: c.exception != "", lambda c: (c.route,))
    every = count(closes, lambda c: True, lambda c: (c.route,))
    # PromQL's division keeps the routes the numerator has: those where a handler raised.
    return {route: raised[route] / every[route] for route in raised}


def _alert(closes: list[Close], observed: Observed | None) -> Answer:
    crashes = count(closes, lambda c: c.exception != "", lambda c: (c.route,))
    return {
        route: share
        for route, share in _share(closes, observed).items()
        if share > 0.02 and crashes[route] >= 5
    }


def _p95_bucket(closes: list[Close], observed: Observed | None) -> Answer:
    routes = count(closes, lambda c: True, lambda c: (c.route,))
    bounds = {(script.HOLD,): LONG, (ECHO,): HELD}
    return {route: bounds.get(route, SHORT) for route in routes}


def _open_per_route(closes: list[Close], observed: Observed | None) -> Answer:
    # Every route that ever accepted a connection has a series; at the end they are all 0.
    return {(c.route,): 0.0 for c in closes if c.accepted}


def _open_per_instance(closes: list[Close], observed: Observed | None) -> Answer:
    assert observed is not None
    return {(observed.instance,): 0.0}


def _client(codes: Callable[[str], bool]) -> Callable[[Close], bool]:
    return lambda c: c.closed_by == "client" and codes(c.code)


PER_MINUTE_OVER_5M, PER_SECOND_OVER_5M = 60 / 300, 1 / 300

#: Each row of the page's table: what its query answers about a list of connections.
MEANINGS: dict[str, Callable[[list[Close], Observed | None], Answer]] = {
    "open connections per route": _open_per_route,
    "open connections per instance": _open_per_instance,
    "handlers that raise": _rate(
        lambda c: c.exception != "", lambda c: (c.route, c.exception), 1.0
    ),
    "crash share per route": _share,
    "server-side closes that were not normal": _rate(
        lambda c: c.closed_by != "client" and c.code not in ("1000", "1001", "1012"),
        lambda c: (c.code, c.closed_by),
        PER_MINUTE_OVER_5M,
    ),
    "client closes that were not normal": _rate(
        _client(lambda code: code not in ("1000", "1001")), lambda c: (), PER_MINUTE_OVER_5M
    ),
    "clients that left without a close code": _rate(
        _client(lambda code: code in ("1005", "1006")), lambda c: (c.route,), PER_SECOND_OVER_5M
    ),
    "clients that vanished (1006)": _rate(
        _client(lambda code: code == "1006"), lambda c: (c.route,), PER_SECOND_OVER_5M
    ),
    "refused handshakes": _rate(
        lambda c: c.code == "none" and c.closed_by != "server",
        lambda c: (c.route, c.closed_by),
        PER_SECOND_OVER_5M,
    ),
    "connection duration": _p95_bucket,
    "the alerting rule below": _alert,
}

#: The labels each row groups by, in the order of its key.
GROUPS: dict[str, tuple[str, ...]] = {
    "open connections per route": ("route",),
    "open connections per instance": ("instance",),
    "handlers that raise": ("route", "exception"),
    "crash share per route": ("route",),
    "server-side closes that were not normal": ("code", "closed_by"),
    "client closes that were not normal": (),
    "clients that left without a close code": ("route",),
    "clients that vanished (1006)": ("route",),
    "refused handshakes": ("route", "closed_by"),
    "connection duration": ("route",),
    "the alerting rule below": ("route",),
}

GAUGE_ROWS = ("open connections per route", "open connections per instance")


def as_answer(row: str, vector: list[dict[str, Any]]) -> Answer:
    return {
        tuple(sample["metric"].get(label, "") for label in GROUPS[row]): float(sample["value"][1])
        for sample in vector
    }


# --- one server, scripted, scraped ------------------------------------------------------------


@pytest.fixture(scope="module", params=list(script.SERVER_COLUMNS))
def observed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Observed:
    kind: str = request.param
    rules = tmp_path_factory.mktemp("rules") / "websocket-closes.yml"
    rules.write_text(alerting_rules())
    with run_server(kind, "tests.integrations.promql_app:app", ready_path="/health") as server:
        return _observe(server, rules)


def _observe(server: Server, rules: Path) -> Observed:
    one_run = len(script.truth())
    # The first run makes every series; Prometheus has not started yet.
    _play_and_hold(server, held=None)
    script.wait_for_exposition(server, closes=one_run, open_now=0)
    instance = f"{server.host}:{server.port}"
    observed = Observed(server.kind, instance)
    with run_prometheus(relabelling(), [instance], [rules]) as prometheus:
        prometheus.wait_for_scrape_after(time.time(), scrapes=3)

        def while_held() -> None:
            seen = script.wait_for_exposition(server, closes=one_run, open_now=script.HELD_OPEN)
            at = prometheus.wait_for_scrape_after(seen)
            for row in ROWS:
                if row.name in GAUGE_ROWS:
                    observed.answers_while_held[row.name] = prometheus.query(row.expression, at)

        _play_and_hold(server, held=while_held)
        done = script.wait_for_exposition(server, closes=2 * one_run, open_now=0)
        at = prometheus.wait_for_scrape_after(done, scrapes=3)
        for row in ROWS:
            observed.answers[row.name] = prometheus.query(row.expression, at)
        observed.samples = _samples(prometheus, at)
        observed.pending_alerts = _pending_alerts(prometheus, expected=1)
        observed.folded_codes = prometheus.query(
            'websocket_server_closes_total{code=~"[34]xxx|4000"}', at
        )
    return observed


def _play_and_hold(server: Server, held: Callable[[], None] | None) -> None:
    """Hold connections open (and call ``held`` meanwhile, in a thread), then play the script."""

    async def main() -> None:
        async with script.hold_open(server, script.HELD_OPEN):
            if held is not None:
                await asyncio.to_thread(held)
        await script.play(server)

    asyncio.run(main())


def _samples(prometheus: Prometheus, at: float) -> int:
    counts = {
        float(sample["value"][1])
        for sample in prometheus.query("count_over_time(websocket_server_closes_total[1h])", at)
    }
    assert len(counts) == 1, f"the counter's series have different sample counts: {counts}"
    return int(counts.pop())


def _pending_alerts(prometheus: Prometheus, expected: int) -> set[str]:
    deadline = time.monotonic() + 10
    while True:
        alerts = prometheus.api("alerts")["alerts"]
        routes = {alert["labels"].get("route", "") for alert in alerts}
        if len(routes) >= expected or time.monotonic() >= deadline:
            assert all(alert["state"] == "pending" for alert in alerts), alerts
            return routes
        time.sleep(0.2)


# --- the checks -------------------------------------------------------------------------------


def _rows(names: tuple[str, ...] | None = None) -> list[Any]:
    return [pytest.param(row, id=row.name) for row in ROWS if names is None or row.name in names]


def _compare(row: str, got: Answer, expected: Answer) -> None:
    if row == "connection duration":
        assert got.keys() == expected.keys()
        for route, (lower, upper) in expected.items():
            assert lower < got[route] <= upper, (route, got[route])
        return
    assert got.keys() == expected.keys(), (got, expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), (key, got[key], value)


@pytest.mark.parametrize("row", _rows())
def test_each_query_answers_what_the_server_recorded(observed: Observed, row: QueryRow) -> None:
    recorded = script.recorded(observed.server_kind)
    got = as_answer(row.name, observed.answers[row.name])
    _compare(row.name, got, MEANINGS[row.name](recorded, observed))


@pytest.mark.parametrize("row", _rows(GAUGE_ROWS))
def test_the_gauge_counts_the_connections_held_open(observed: Observed, row: QueryRow) -> None:
    got = as_answer(row.name, observed.answers_while_held[row.name])
    at_the_end = MEANINGS[row.name](script.recorded(observed.server_kind), observed)
    key = (ECHO,) if row.name == "open connections per route" else (observed.instance,)
    assert got == {**at_the_end, key: float(script.HELD_OPEN)}


@pytest.mark.parametrize("row", _rows())
def test_the_table_says_where_each_query_holds(observed: Observed, row: QueryRow) -> None:
    column = server_columns()[script.SERVER_COLUMNS[observed.server_kind]]
    meaning = MEANINGS[row.name]
    as_recorded = meaning(script.recorded(observed.server_kind), observed)
    as_it_happened = meaning(script.truth(), observed)
    assert (as_recorded == as_it_happened) is row.holds_on(column), (
        f"{row.name!r} on {observed.server_kind}: the page says {row.cells[column]!r}, but "
        f"it answers {as_recorded} where what happened is {as_it_happened}"
    )


def test_the_rule_is_pending_for_the_crashing_route_only(observed: Observed) -> None:
    # 5 crashes in 5 connections: pending (its `for:` is 10 minutes). The echo route's one
    # ValueError and the early route's one crash are under the rule's five.
    assert observed.pending_alerts == {script.CRASH}


def test_the_relabelling_folds_only_the_clients_codes(observed: Observed) -> None:
    folded = {(s["metric"]["closed_by"], s["metric"]["code"]) for s in observed.folded_codes}
    # The app's 4000 stays; hypercorn reports every client close as 1006: nothing to fold there.
    expected = {("app", "4000")}
    if observed.server_kind != "hypercorn":
        expected.add(("client", "4xxx"))
    assert folded == expected
