"""Prometheus metrics of one process, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
GRADING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "gradeflow_http_request_seconds",
            "HTTP request latency by route and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "gradeflow_queue_depth",
            "Jobs waiting in a queue (-1 when the broker is unreachable).",
            ["queue"],
            registry=self.registry,
        )
        self.grading_seconds = Histogram(
            "gradeflow_grading_seconds",
            "Wall time of one sandbox run.",
            ["outcome"],
            buckets=GRADING_BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "gradeflow_grading_outcomes_total",
            "Finished grading runs by sandbox outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.sandbox_failures = Counter(
            "gradeflow_sandbox_failures_total",
            "Runs the sandbox could not complete (internal errors).",
            registry=self.registry,
        )
        self.republished = Counter(
            "gradeflow_jobs_republished_total",
            "Jobs published again by the sweeper (publish failed or lease expired).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
