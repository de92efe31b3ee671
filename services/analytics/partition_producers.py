"""Transactional producers, one per owned category partition: Kafka itself fences a paused worker.

The transactional id names the partition, not the worker (``<topic prefix>horde-analytics-risk-<n>``),
so the next owner of a partition starts a producer with the same id. The transaction coordinator
then bumps the id's epoch, aborts whatever the previous owner left open and refuses every later
send and commit of the previous owner's producer (``ProducerFenced``). Consumers that read
committed records only (``shared.kafka.isolation_level``) never see those aborted records: a
worker paused in the middle of a publish (a long GC pause, a frozen VM, SIGSTOP) and resumed
after its successor started cannot add a record after the successor's, whatever instant the pause
hit. The Redis fencing token (``shared.store.fencing``) still guards the pointer swap and the
Redis stream, and decides whether a producer may be started again outside an assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, ProducerFenced

from shared.kafka import make_transactional_producer
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: What the broker answers a producer whose transactional id was taken over (or timed out).
FENCED_ERRORS = (ProducerFenced, InvalidProducerEpoch)


class Fenced(Exception):
    """The partition's producer was fenced: a newer producer of its transactional id started
    (another worker owns the partition now), or its transaction outlived the broker's timeout."""

    def __init__(self, partition: int) -> None:
        super().__init__(f"the transactional producer of partition {partition} was fenced")
        self.partition = partition


class PartitionProducers:
    """The transactional producers of the owned partitions (started at every assignment)."""

    def __init__(self, settings: KafkaSettings, *, client_id: str, name: str = "risk") -> None:
        self.settings = settings
        self.client_id = client_id
        self.name = name
        self.producers: dict[int, AIOKafkaProducer] = {}

    def transactional_id(self, partition: int) -> str:
        """The id every owner of ``partition`` uses (the topic prefix keeps deployments apart)."""
        return f"{self.settings.topic_prefix}horde-analytics-{self.name}-{partition}"

    async def own(self, partitions: Iterable[int]) -> None:
        """Stop the producers held so far and start one per partition of ``partitions``.

        Runs at every assignment, before the owned topics are read: each start fences the
        partition's previous owner and waits until its open transaction is aborted, so what is
        read afterwards is final. A partition whose producer fails to start has none; the first
        publish to it starts it again (``start``)."""
        await self.close()
        wanted = sorted(set(partitions))
        results = await asyncio.gather(*(self._start(p) for p in wanted), return_exceptions=True)
        for partition, result in zip(wanted, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "the transactional producer of partition %s did not start; retried at its first "
                    "publish (a broker without transactions needs HORDE_KAFKA__TRANSACTIONS=false)",
                    partition, extra={"error": f"{type(result).__name__}: {result}"},
                )  # fmt: skip

    async def start(self, partition: int) -> AIOKafkaProducer:
        """(Re)start the producer of ``partition``; the caller must still own it (this fences
        whoever holds the partition's transactional id)."""
        old = self.producers.pop(partition, None)
        if old is not None:
            await _stop(old)
        return await self._start(partition)

    async def _start(self, partition: int) -> AIOKafkaProducer:
        producer = make_transactional_producer(
            self.settings,
            client_id=f"{self.client_id}-{self.name}-{partition}",
            transactional_id=self.transactional_id(partition),
        )
        try:
            await producer.start()
        except BaseException:
            await _stop(producer)
            raise
        self.producers[partition] = producer
        return producer

    async def close(self) -> None:
        """Stop every producer (at shutdown and before the next assignment starts its own)."""
        producers, self.producers = list(self.producers.values()), {}
        for producer in producers:
            await _stop(producer)

    @contextlib.asynccontextmanager
    async def transaction(self, partition: int) -> AsyncIterator[AIOKafkaProducer]:
        """The partition's producer inside one transaction: committed when the block ends, aborted
        when it raises. Raises ``Fenced`` when the producer was fenced and ``KeyError`` when the
        partition has no producer. After any failure the producer is dropped (an abort that failed
        too, say with the broker away, leaves it unusable): the next publish starts a new one."""
        producer = self.producers[partition]
        try:
            async with producer.transaction():
                yield producer
        except BaseException as error:
            if self.producers.get(partition) is producer:
                del self.producers[partition]
            await _stop(producer)
            if isinstance(error, FENCED_ERRORS):
                raise Fenced(partition) from error
            raise


async def _stop(producer: AIOKafkaProducer) -> None:
    """Stop a producer; a fenced or never-started one may fail to, which changes nothing."""
    with contextlib.suppress(Exception):
        await producer.stop()
    # aiokafka leaves a fenced producer's error in futures nobody awaits (its sender task, the
    # transaction waiter, the failed batches' drain waiters): asyncio would log each as "Future
    # exception was never retrieved", an ERROR with a traceback, for an expected, logged refusal.
    accumulator = getattr(producer, "_message_accumulator", None)
    batches = [b for q in getattr(accumulator, "_batches", {}).values() for b in q]
    batches += list(getattr(accumulator, "_pending_batches", ()))
    futures = [getattr(b, "_drain_waiter", None) for b in batches]
    futures.append(getattr(getattr(producer, "_sender", None), "_sender_task", None))
    futures.append(getattr(getattr(producer, "_txn_manager", None), "_transaction_waiter", None))
    for future in futures:
        if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
            future.exception()
