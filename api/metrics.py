"""Prometheus metrics of the API process. Gauges that describe live state (database pool,
Redis) are filled by a collector at scrape time, so they are never stale."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "pulse_http_requests_total",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "pulse_http_request_duration_seconds",
    "HTTP request latency by method and route.",
    ["method", "route"],
    registry=REGISTRY,
)


class StateCollector(Collector):
    """Reads pool and Redis state through callbacks the app registers at start-up."""

    def __init__(self) -> None:
        self.pool_stats: Callable[[], tuple[int, int] | None] = lambda: None
        self.redis_up: Callable[[], bool | None] = lambda: None
        self.breaker_state: Callable[[], int | None] = lambda: None
        # Open websockets, shared subscription streams, their subscribers, Redis channels.
        self.realtime: Callable[[], tuple[int, int, int, int] | None] = lambda: None

    def collect(self) -> Iterator[Metric]:
        stats = self.pool_stats()
        in_use = GaugeMetricFamily("pulse_db_pool_in_use", "Database connections in use.")
        size = GaugeMetricFamily("pulse_db_pool_size", "Database connections open in the pool.")
        if stats is not None:
            in_use.add_metric([], stats[0])
            size.add_metric([], stats[1])
        yield in_use
        yield size
        up = GaugeMetricFamily("pulse_redis_up", "1 when the last Redis check succeeded.")
        redis_state = self.redis_up()
        if redis_state is not None:
            up.add_metric([], 1.0 if redis_state else 0.0)
        yield up
        breaker = GaugeMetricFamily(
            "pulse_db_breaker_state", "Database circuit breaker: 0 closed, 1 half-open, 2 open."
        )
        state = self.breaker_state()
        if state is not None:
            breaker.add_metric([], float(state))
        yield breaker
        realtime = self.realtime()
        for value, name, documentation in zip(
            realtime or (None, None, None, None),
            (
                "pulse_websocket_connections",
                "pulse_subscription_streams",
                "pulse_subscription_subscribers",
                "pulse_realtime_channels",
            ),
            (
                "Open authenticated websockets on this instance.",
                "Subscription executions (one per distinct subscription when shared).",
                "Subscription operations receiving a stream.",
                "Redis pub/sub channels this instance listens to.",
            ),
            strict=True,
        ):
            gauge = GaugeMetricFamily(name, documentation)
            if value is not None:
                gauge.add_metric([], float(value))
            yield gauge


STATE = StateCollector()
REGISTRY.register(STATE)
