"""Consumer lag of the partitions a worker owns, measured on a timer from the broker.

Lag measured only when records arrive says nothing about a consumer that receives none: a stalled
consumer would keep its last, small value. So the lag is read every ``LAG_INTERVAL_SECONDS`` from
the broker's end offsets (or the fetch highwater when that is higher: the embedded test broker
under-reports end offsets after batched produces, see ../shared/notes/kafka-test-infra.md) against
the consumer's position, and its series are removed when the partitions are revoked, so a series
exists exactly for the partitions this member owns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from aiokafka import TopicPartition

from shared.metrics import CONSUMER_LAG

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

#: How often the owned partitions' lag is read from the broker.
LAG_INTERVAL_SECONDS = 5.0


async def measure_lag(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Records between each partition's end (broker end offset or fetch highwater) and the position."""
    wanted = sorted(partitions)
    if not wanted:
        return {}
    ends = await consumer.end_offsets(wanted)
    lags: dict[TopicPartition, int] = {}
    for tp in wanted:
        end = max(ends.get(tp, 0), consumer.highwater(tp) or 0)
        lags[tp] = max(0, end - await consumer.position(tp))
    return lags


class LagGauge:
    """The ``hma_consumer_lag_records`` series of one member: set for owned partitions, removed on revoke."""

    def __init__(self) -> None:
        self.exported: set[TopicPartition] = set()

    def set(self, tp: TopicPartition, lag: int) -> None:
        CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, lag))
        self.exported.add(tp)

    def export(self, lags: Mapping[TopicPartition, int]) -> None:
        """Exactly these partitions' series: others this member exported are removed."""
        self.forget(self.exported - set(lags))
        for tp, lag in lags.items():
            self.set(tp, lag)

    def forget(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Remove the series of ``partitions`` (all of this member's by default)."""
        for tp in list(self.exported if partitions is None else partitions):
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(tp.topic, str(tp.partition))
            self.exported.discard(tp)
