"""The realtime lag histogram: observed once per frame per socket, so its hot path is a list increment.

prometheus_client's Histogram takes a lock and a label lookup per observation, which cost
more than a tenth of the server CPU of a fan-out here. Frames are written from the event
loop's thread only, so plain counters suffice; a scrape reads them as a histogram family.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector


class LagHistogram(Collector):
    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self._name, self._doc = name, documentation
        self._bounds = tuple(sorted(buckets))
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, field: str, seconds: float) -> None:
        counts = self._counts.get(field)
        if counts is None:
            counts = self._counts[field] = [0] * (len(self._bounds) + 1)
            self._sums[field] = 0.0
        counts[bisect_left(self._bounds, seconds)] += 1  # `le` buckets: a bound counts as inside
        self._sums[field] += seconds

    def count(self, field: str) -> int:
        return sum(self._counts.get(field, ()))

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._doc, labels=["field"])
        for field, counts in list(self._counts.items()):
            cumulative, buckets = 0, []
            for bound, n in zip((*self._bounds, float("inf")), counts, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric([field], buckets, self._sums[field])
        yield family
