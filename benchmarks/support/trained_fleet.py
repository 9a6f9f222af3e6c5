"""A fleet whose models are past their warm-up, for measuring the worker in its steady state.

A worker that has run for a while scores every reading against calibrated models, and restores
them from the lease's snapshot when it takes a shard. Pushing each device's warm-up through moto
(750 readings per device by default, 750,000 records for 1,000 devices) would take many minutes,
so this trains the default detector in this process instead, on ``history`` readings per device
of the same signal with timestamps just before the stream's, one engine per shard (devices split
by the shards' hash-key ranges, as Kinesis splits their partition keys). Each fresh application
(lease table and state table) then gets what a worker that had read that history would have left:
every shard's lease checkpointed at its first record, and the model snapshot for that checkpoint,
written by the worker's own :class:`~consumer.state.shard_state.ShardState`. A worker started on
it takes the leases, restores the models and reads on from each shard's second record: the drain
covers every record but the first of each shard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.support.harness import Streams, sensor_payloads
from consumer.detection import DetectionEngine
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.processor.reading import decode_readings
from consumer.state.shard_state import ShardState, partition_hash
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber

STEP_MS = 60_000  # sensor_payloads: one reading per device per minute of event time
CHUNK = 10  # readings per device alive at a time while training (a large heap slows the engine)


@dataclass
class Shard:
    shard_id: str
    starting_hash_key: str
    ending_hash_key: str
    first_sequence_number: str  # the lease's checkpoint: the worker reads on after it


@dataclass
class TrainedFleet:
    history: int
    engines: dict[tuple[str, str, str], DetectionEngine]  # by (shard id, starting and ending hash key)

    @property
    def skipped(self) -> int:
        """Records of a stream the worker does not read (each shard's first, the checkpoint)."""
        return len(self.engines)

    def install(self, streams: Streams) -> None:
        """Give a fresh application of a stream with the fleet's shards each shard's lease,
        checkpointed at its first record, and the model snapshot for that checkpoint."""
        store = SnapshotStore(streams.dynamodb, streams.settings.state_table)
        table = LeaseTable(streams.dynamodb, streams.settings.lease_table)
        shards = stream_shards(streams)
        keys = {(shard.shard_id, shard.starting_hash_key, shard.ending_hash_key) for shard in shards}
        if keys != set(self.engines):
            raise RuntimeError(f"{streams.stream} does not have the shards the fleet was trained for")
        for shard in shards:
            engine = self.engines[(shard.shard_id, shard.starting_hash_key, shard.ending_hash_key)]
            position = ExtendedSequenceNumber(shard.first_sequence_number, 0)
            ShardState(store, shard.shard_id).save(engine, position)
            lease = Lease(
                shard.shard_id,
                checkpoint=position,
                starting_hash_key=shard.starting_hash_key,
                ending_hash_key=shard.ending_hash_key,
            )
            if not table.create_lease_if_missing(lease):
                raise RuntimeError(f"lease {shard.shard_id} already exists in {table.table_name}")


def stream_shards(streams: Streams) -> list[Shard]:
    """The stream's shards with their hash-key ranges and the sequence number of their first record."""
    shards = []
    for found in streams.kinesis.list_shards(StreamName=streams.stream)["Shards"]:
        iterator = streams.kinesis.get_shard_iterator(
            StreamName=streams.stream, ShardId=found["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = streams.kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]
        if not records:
            raise RuntimeError(f"shard {found['ShardId']} of {streams.stream} is empty")
        shards.append(
            Shard(
                found["ShardId"],
                found["HashKeyRange"]["StartingHashKey"],
                found["HashKeyRange"]["EndingHashKey"],
                records[0]["SequenceNumber"],
            )
        )
    return shards


def history(devices: int, readings: int, stream_start_ms: int) -> Iterator[list[tuple[str, bytes]]]:
    """``readings`` readings per device of :func:`sensor_payloads`' signal, ending one step before
    ``stream_start_ms``, in chunks of :data:`CHUNK` steps (every device's reading at each step)."""
    start_ms = stream_start_ms - readings * STEP_MS
    for chunk in range(0, readings, CHUNK):
        steps = min(CHUNK, readings - chunk)
        yield sensor_payloads(devices * steps, devices, seed=1_000 + chunk, start_ms=start_ms)
        start_ms += steps * STEP_MS


def _decoded(datas: list[bytes]) -> list[Reading]:
    readings = decode_readings(datas)
    if readings is None:
        raise RuntimeError("the history's readings did not decode")
    return readings


def trained_engine(devices: int, readings: int, stream_start_ms: int) -> DetectionEngine:
    """One default engine holding :func:`history` for every device."""
    engine = DetectionEngine.from_spec(None)
    for payloads in history(devices, readings, stream_start_ms):
        engine.process_batch(_decoded([data for _, data in payloads]))
    return engine


def train(streams: Streams, devices: int, readings: int, stream_start_ms: int) -> TrainedFleet:
    """One engine per shard of ``streams``' stream (and of any stream with the same shards), each
    holding :func:`history` (``readings`` per device) of the devices whose partition keys hash into
    its range."""
    shards = stream_shards(streams)
    ranges = [(int(s.starting_hash_key), int(s.ending_hash_key), s.shard_id) for s in shards]
    shard_of: dict[str, str] = {}
    engines = {shard.shard_id: DetectionEngine.from_spec(None) for shard in shards}
    for payloads in history(devices, readings, stream_start_ms):
        by_shard: dict[str, list[bytes]] = {shard_id: [] for shard_id in engines}
        for key, data in payloads:
            shard_id = shard_of.get(key)
            if shard_id is None:
                hashed = partition_hash(key)
                shard_id = shard_of[key] = next(s for low, high, s in ranges if low <= hashed <= high)
            by_shard[shard_id].append(data)
        for shard_id, datas in by_shard.items():
            if datas:
                engines[shard_id].process_batch(_decoded(datas))
    return TrainedFleet(
        readings, {(s.shard_id, s.starting_hash_key, s.ending_hash_key): engines[s.shard_id] for s in shards}
    )
