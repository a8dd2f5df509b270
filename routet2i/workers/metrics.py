"""Prometheus metrics of one worker app, in its own CollectorRegistry (never the global one, so
several apps can live in one process, e.g. ``routet2i serve`` or tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Histogram buckets of images per backend call.
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
#: Histogram buckets of seconds per backend call (tiny CPU models to large GPU models).
SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)


class WorkerMetrics:
    """The worker's metrics: queue depth, batch sizes, generation seconds, images, errors."""

    def __init__(self, model: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model"]
        self._model = model
        self._queue_depth = Gauge(
            "routet2i_worker_queue_depth", "Requests waiting for the model.", labels, registry=self.registry
        )
        self._batch_images = Histogram(
            "routet2i_worker_batch_images",
            "Images per backend (pipeline) call.",
            labels,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._batch_requests = Histogram(
            "routet2i_worker_batch_requests",
            "Requests per backend (pipeline) call.",
            labels,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._generation_seconds = Histogram(
            "routet2i_worker_generation_seconds",
            "Seconds per backend (pipeline) call.",
            labels,
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._images = Counter("routet2i_worker_images", "Images generated.", labels, registry=self.registry)
        self._errors = Counter(
            "routet2i_worker_errors", "Error responses by error type.", [*labels, "type"], registry=self.registry
        )
        self._dropped = Counter(
            "routet2i_worker_dropped",
            "Requests withdrawn before generation (cancelled: the caller went away; deadline: out of time).",
            [*labels, "reason"],
            registry=self.registry,
        )
        self._failed_batches = Counter(
            "routet2i_worker_failed_batches", "Backend calls that raised.", labels, registry=self.registry
        )
        self._ready = Gauge("routet2i_worker_ready", "1 once loaded and warmed.", labels, registry=self.registry)

    @property
    def queue_depth(self) -> Gauge:
        return self._queue_depth.labels(model=self._model)

    @property
    def ready(self) -> Gauge:
        return self._ready.labels(model=self._model)

    @property
    def failed_batches(self) -> Counter:
        return self._failed_batches.labels(model=self._model)

    @property
    def dropped(self) -> _ReasonCounter:
        return _ReasonCounter(self._dropped, self._model)

    def error(self, error_type: str) -> None:
        self._errors.labels(model=self._model, type=error_type).inc()

    def observe_batch(self, images: int, requests: int, seconds: float) -> None:
        self._batch_images.labels(model=self._model).observe(images)
        self._batch_requests.labels(model=self._model).observe(requests)
        self._generation_seconds.labels(model=self._model).observe(seconds)
        self._images.labels(model=self._model).inc(images)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class _ReasonCounter:
    """``dropped.labels(reason=...)`` with the model label filled in."""

    def __init__(self, counter: Counter, model: str) -> None:
        self._counter = counter
        self._model = model

    def labels(self, reason: str) -> Counter:
        return self._counter.labels(model=self._model, reason=reason)
