"""The shard reader against moto: start positions, pacing, de-aggregation, error recovery."""

from __future__ import annotations

import itertools
import random
import threading
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from consumer.aws.backoff import Backoff
from consumer.aws.clients import fast_session
from consumer.aws.errors import FatalAwsError
from consumer.shards.shard_reader import MIN_SECONDS_BETWEEN_CALLS, ShardReader, records_after
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.sequence_number import TRIM_HORIZON, ExtendedSequenceNumber
from producers.aggregation import encode_aggregate as aggregate
from tests.fixtures.aws import NO_RETRIES, REGION

SHARD = "shardId-000000000000"


@pytest.fixture(params=["botocore dicts", "KinesisRecord structs"])
def fast_kinesis(request: pytest.FixtureRequest, moto_endpoint: str) -> Any:
    """Every test here runs on both kinds of client the reader takes: records as botocore's dicts,
    and the worker's reader client, whose records come decoded as ``KinesisRecord`` structs."""
    structs = request.param == "KinesisRecord structs"
    return fast_session(REGION, shard_records=structs).client("kinesis", endpoint_url=moto_endpoint, config=NO_RETRIES)


class FakeTime:
    """A clock that moves only when the reader waits on its stop event (or a test advances it)."""

    def __init__(self) -> None:
        self.now = 50.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now


class ClockedStop(threading.Event):
    def __init__(self, clock: FakeTime) -> None:
        super().__init__()
        self._clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None:
            self._clock.waits.append(timeout)
            self._clock.now += timeout
        return self.is_set()


class CallTimes:
    """Pass-through to the real client that notes the (fake) time of each GetRecords call."""

    def __init__(self, kinesis: Any, clock: FakeTime) -> None:
        self._kinesis = kinesis
        self._clock = clock
        self.get_records_at: list[float] = []

    def get_records(self, **kwargs: Any) -> Any:
        self.get_records_at.append(self._clock())
        return self._kinesis.get_records(**kwargs)

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        return self._kinesis.get_shard_iterator(**kwargs)


def put(kinesis: Any, stream: str, count: int, start: int = 0) -> list[str]:
    return [
        kinesis.put_record(StreamName=stream, Data=f"r{index}".encode(), PartitionKey=f"k{index % 3}")["SequenceNumber"]
        for index in range(start, start + count)
    ]


def make_reader(kinesis: Any, stream: str, start: str | ExtendedSequenceNumber, **kwargs: Any) -> ShardReader:
    clock = FakeTime()
    position = start if isinstance(start, ExtendedSequenceNumber) else ExtendedSequenceNumber(start)
    kwargs.setdefault("stop", ClockedStop(clock))
    kwargs.setdefault("clock", clock)
    return ShardReader(kinesis, stream, SHARD, position, **kwargs)


def drain(reader: ShardReader, limit: int = 50) -> list[KinesisRecord]:
    out: list[KinesisRecord] = []
    for _ in range(limit):
        result = reader.read()
        if not result.records:
            return out
        out.extend(result.records)
    raise AssertionError("reader never caught up")


def test_reads_everything_from_trim_horizon(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    sequences = put(fast_kinesis, stream, 25)
    reader = make_reader(fast_kinesis, stream, "TRIM_HORIZON", max_records=7)
    records = drain(reader)
    assert [r.sequence_number for r in records] == sequences
    assert [r.data for r in records] == [f"r{i}".encode() for i in range(25)]
    assert [r.partition_key for r in records] == [f"k{i % 3}" for i in range(25)]
    assert all(isinstance(r.approximate_arrival, float) for r in records)  # epoch seconds, no datetime
    assert reader.millis_behind_latest is not None and not reader.ended


def test_latest_reads_only_new_records(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    put(fast_kinesis, stream, 5)
    reader = make_reader(fast_kinesis, stream, "LATEST")
    assert reader.read().records == []
    later = put(fast_kinesis, stream, 3, start=5)
    assert [r.sequence_number for r in drain(reader)] == later


def test_reader_from_checkpoint_returns_only_later_records(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    sequences = put(fast_kinesis, stream, 12)
    reader = make_reader(fast_kinesis, stream, sequences[6])
    assert [r.sequence_number for r in drain(reader)] == sequences[7:]


def test_reader_continues_across_reads_without_repeats(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    first = put(fast_kinesis, stream, 4)
    reader = make_reader(fast_kinesis, stream, "TRIM_HORIZON")
    assert [r.sequence_number for r in drain(reader)] == first
    second = put(fast_kinesis, stream, 4, start=4)
    assert [r.sequence_number for r in drain(reader)] == second


def test_paces_to_five_calls_per_second(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    put(fast_kinesis, stream, 3)
    clock = FakeTime()
    calls = CallTimes(fast_kinesis, clock)
    reader = ShardReader(
        calls, stream, SHARD, ExtendedSequenceNumber("TRIM_HORIZON"), stop=ClockedStop(clock), clock=clock
    )
    for _ in range(12):
        reader.read()
    times = calls.get_records_at
    assert len(times) == 12
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= MIN_SECONDS_BETWEEN_CALLS - 1e-9
    # Any one-second window holds at most five calls.
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 5


def test_no_wait_when_calls_are_already_far_apart(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    clock = FakeTime()
    reader = ShardReader(
        fast_kinesis, stream, SHARD, ExtendedSequenceNumber("TRIM_HORIZON"), stop=ClockedStop(clock), clock=clock
    )
    for _ in range(3):
        reader.read()
        clock.now += 1.0
    assert clock.waits == []


def test_bad_iterator_is_refreshed_from_last_handed_out_record(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(1)
    sequences = put(fast_kinesis, stream, 10)
    reader = make_reader(fast_kinesis, stream, "TRIM_HORIZON", max_records=4)
    first = reader.read().records
    assert [r.sequence_number for r in first] == sequences[:4]
    # moto answers an unknown iterator with HTTP 500 (retryable); it has no iterator expiry. After
    # a few failed attempts the reader gets a new iterator after the last record it handed out.
    reader._iterator = "bm90LWFuLWl0ZXJhdG9y"
    reader._backoff = Backoff(base=0.001, cap=0.001)
    rest = drain(reader)
    assert [r.sequence_number for r in rest] == sequences[4:]


def test_expired_iterator_is_refreshed_at_once_from_last_handed_out_record(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(1)
    sequences = put(fast_kinesis, stream, 8)
    reader = make_reader(fast_kinesis, stream, "TRIM_HORIZON", max_records=3)
    assert [r.sequence_number for r in reader.read().records] == sequences[:3]
    # moto never expires iterators; hand the reader the error Kinesis sends for an expired one.
    expired = ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "Iterator expired"}}, "GetRecords")
    reader._handle_error(expired)
    assert reader._iterator is None and reader._backoff.attempt == 0  # no backoff, a new iterator
    assert [r.sequence_number for r in drain(reader)] == sequences[3:]


def test_stop_returns_empty_without_reading(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    put(fast_kinesis, stream, 3)
    stop = threading.Event()
    stop.set()
    reader = ShardReader(fast_kinesis, stream, SHARD, ExtendedSequenceNumber("TRIM_HORIZON"), stop=stop)
    result = reader.read()
    assert result.records == [] and not result.ended


def test_missing_stream_is_fatal(fast_kinesis: Any) -> None:
    reader = make_reader(fast_kinesis, "no-such-stream-here", "TRIM_HORIZON")
    with pytest.raises(FatalAwsError, match="ResourceNotFoundException"):
        reader.read()


def test_aggregated_records_are_split(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    plain_before = put(fast_kinesis, stream, 1)
    inner = [(f"dev-{i}", f"sub{i}".encode()) for i in range(4)]
    agg_sequence = fast_kinesis.put_record(StreamName=stream, Data=aggregate(inner), PartitionKey="agg")[
        "SequenceNumber"
    ]
    plain_after = put(fast_kinesis, stream, 1, start=9)
    records = drain(make_reader(fast_kinesis, stream, "TRIM_HORIZON"))
    assert [(r.sequence_number, r.sub_sequence_number) for r in records] == [
        (plain_before[0], 0),
        *[(agg_sequence, i) for i in range(4)],
        (plain_after[0], 0),
    ]
    assert [r.data for r in records[1:5]] == [data for _key, data in inner]
    # A checkpoint inside the aggregate resumes at the next sub-record, not at the next record.
    resumed = drain(make_reader(fast_kinesis, stream, ExtendedSequenceNumber(agg_sequence, 1)))
    assert [(r.sequence_number, r.sub_sequence_number) for r in resumed] == [
        (agg_sequence, 2),
        (agg_sequence, 3),
        (plain_after[0], 0),
    ]


def test_at_timestamp_starts_at_the_given_time(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    put(fast_kinesis, stream, 3)
    everything = drain(make_reader(fast_kinesis, stream, "TRIM_HORIZON"))
    reader = make_reader(fast_kinesis, stream, "AT_TIMESTAMP", initial_timestamp_ms=0)
    assert [r.sequence_number for r in drain(reader)] == [r.sequence_number for r in everything]


def test_checkpoint_at_first_sub_record_resumes_inside_the_aggregate(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(1)
    inner = [(f"dev-{i}", f"sub{i}".encode()) for i in range(3)]
    agg_sequence = fast_kinesis.put_record(StreamName=stream, Data=aggregate(inner), PartitionKey="agg")[
        "SequenceNumber"
    ]
    plain_after = put(fast_kinesis, stream, 1, start=5)
    # A checkpoint at (sequence, 0) of an aggregate means sub-record 0 is done, 1 and 2 are not.
    resumed = drain(make_reader(fast_kinesis, stream, ExtendedSequenceNumber(agg_sequence, 0)))
    assert [(r.sequence_number, r.sub_sequence_number) for r in resumed] == [
        (agg_sequence, 1),
        (agg_sequence, 2),
        (plain_after[0], 0),
    ]


def test_records_after_keeps_what_the_position_comparison_keeps() -> None:
    rng = random.Random(7)
    base = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898
    numbers = [*sorted(rng.sample(range(base, base + 40), 12)), 5, 10, 99]  # 56-digit, and moto's short ones
    records = [
        KinesisRecord(sequence_number=str(number), sub_sequence_number=sub, partition_key="k", data=b"{}")
        for number in numbers
        for sub in ((0, 1, 2) if number % 3 == 0 else (0,))
    ]
    floors = [record.position for record in records] + [
        ExtendedSequenceNumber(str(base + 100)),
        ExtendedSequenceNumber("7"),
        ExtendedSequenceNumber(TRIM_HORIZON),
    ]
    for floor in floors:
        expected = [record for record in records if record.position > floor]
        assert records_after(records, floor) == expected
    aggregate_number = next(number for number in numbers if number % 3 == 0)  # sub-records 0, 1, 2
    inside = records_after(records, ExtendedSequenceNumber(str(aggregate_number), 1))
    assert (inside[0].sequence_number, inside[0].sub_sequence_number) == (str(aggregate_number), 2)


# ---------------------------------------------------------------- responses that expand past max_records


class CannedKinesis:
    """A fake Kinesis client for the reader's own logic: GetRecords answers from a list of
    responses, then empty ones; the last given response may end the shard."""

    def __init__(self, responses: list[dict[str, Any]]) -> None:
        self._responses = responses
        self.get_records_calls = 0

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, str]:
        return {"ShardIterator": "iterator-0"}

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        self.get_records_calls += 1
        if self._responses:
            return self._responses.pop(0)
        return {"Records": [], "NextShardIterator": "iterator-n", "MillisBehindLatest": 0}


def struct(sequence: int, data: bytes) -> KinesisRecord:
    return KinesisRecord(sequence_number=str(sequence), partition_key="p", data=data)


def sub_records(count: int, tag: str = "") -> list[tuple[str, bytes]]:
    return [(f"dev-{i % 5}", f"{tag}{i}".encode()) for i in range(count)]


def test_a_response_that_expands_past_max_records_comes_in_chunks_from_one_call(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(1)
    first = put(fast_kinesis, stream, 1)
    aggregates = [
        fast_kinesis.put_record(StreamName=stream, Data=aggregate(sub_records(6, tag)), PartitionKey="agg")[
            "SequenceNumber"
        ]
        for tag in "ab"
    ]
    last = put(fast_kinesis, stream, 1, start=7)
    clock = FakeTime()
    calls = CallTimes(fast_kinesis, clock)
    reader = ShardReader(calls, stream, SHARD, ExtendedSequenceNumber(TRIM_HORIZON), max_records=5, clock=clock)
    reader._stop = ClockedStop(clock)
    chunks = [reader.read().records for _ in range(3)]
    assert [len(chunk) for chunk in chunks] == [5, 5, 4]
    assert len(calls.get_records_at) == 1  # one GetRecords response, handed out in three reads
    assert [(r.sequence_number, r.sub_sequence_number) for chunk in chunks for r in chunk] == [
        (first[0], 0),
        *[(aggregates[0], i) for i in range(6)],
        *[(aggregates[1], i) for i in range(6)],
        (last[0], 0),
    ]
    assert reader.read().records == [] and len(calls.get_records_at) == 2
    # The next read after a chunk resumes after the last record handed out, as a checkpoint there would.
    assert reader._last_handed_out == ExtendedSequenceNumber(last[0], 0)


def test_a_checkpoint_inside_an_aggregate_resumes_there_across_chunks(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(1)
    agg = fast_kinesis.put_record(StreamName=stream, Data=aggregate(sub_records(8)), PartitionKey="agg")[
        "SequenceNumber"
    ]
    after = put(fast_kinesis, stream, 1, start=9)
    reader = make_reader(fast_kinesis, stream, ExtendedSequenceNumber(agg, 2), max_records=3)
    chunks = [reader.read().records for _ in range(2)]
    assert [[(r.sequence_number, r.sub_sequence_number) for r in chunk] for chunk in chunks] == [
        [(agg, 3), (agg, 4), (agg, 5)],
        [(agg, 6), (agg, 7), (after[0], 0)],
    ]


def test_the_shard_end_and_children_come_only_with_the_last_chunk() -> None:
    children = [{"ShardId": "shardId-000000000001", "ParentShards": [SHARD], "HashKeyRange": {}}]
    records = [struct(1, aggregate(sub_records(7))), struct(2, b"{}")]
    kinesis = CannedKinesis([{"Records": records, "MillisBehindLatest": 0, "ChildShards": children}])
    reader = make_reader(kinesis, "stream", "TRIM_HORIZON", max_records=3)
    results = [reader.read() for _ in range(3)]
    assert [(len(r.records), r.ended, r.child_shards) for r in results] == [
        (3, False, []),
        (3, False, []),
        (2, True, children),
    ]
    assert reader.ended and reader.child_shards == children
    assert reader.read().ended and kinesis.get_records_calls == 1


def test_a_filtered_away_rest_of_a_response_does_not_look_like_an_idle_poll() -> None:
    """When every record after a full chunk is at or before the start position, the next read
    goes on to the next GetRecords call instead of returning nothing."""
    start = ExtendedSequenceNumber("5", 3)
    first = [struct(5, aggregate(sub_records(7)))]
    second = [struct(6, b"{}")]
    kinesis = CannedKinesis(
        [{"Records": first, "NextShardIterator": "i1"}, {"Records": second, "NextShardIterator": "i2"}]
    )
    reader = make_reader(kinesis, "stream", start, max_records=3)
    assert [r.sub_sequence_number for r in reader.read().records] == [4, 5, 6]
    assert [r.sequence_number for r in reader.read().records] == ["6"]


def test_degenerate_aggregates_come_whole_with_their_defect_among_the_user_records(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    stream = make_stream(1)
    datas = [aggregate(sub_records(2)), aggregate(sub_records(4)), aggregate([("k", b"")] * 3)]
    sequences = [
        fast_kinesis.put_record(StreamName=stream, Data=d, PartitionKey="agg")["SequenceNumber"] for d in datas
    ]
    records = drain(make_reader(fast_kinesis, stream, "TRIM_HORIZON", max_aggregate_records=3))
    assert [(r.sequence_number, r.sub_sequence_number, r.defect_code) for r in records] == [
        (sequences[0], 0, None),
        (sequences[0], 1, None),
        (sequences[1], 0, "aggregate_too_many_records"),
        (sequences[2], 0, "aggregate_only_empty_records"),
    ]
    assert [r.data for r in records[2:]] == datas[1:]  # the original bytes, to dead-letter whole


def test_a_response_of_many_aggregates_is_never_expanded_at_once() -> None:
    """40 aggregates of 1,000 sub-records (40,000 records) handed out 1,000 at a time: the reader
    holds at most a chunk and one aggregate's records, not the whole expansion."""
    received = [struct(n, aggregate(sub_records(1_000))) for n in range(1, 41)]
    kinesis = CannedKinesis([{"Records": received, "NextShardIterator": "i1", "MillisBehindLatest": 0}])
    reader = make_reader(kinesis, "stream", "TRIM_HORIZON", max_records=1_000, max_aggregate_records=1_000)
    tracemalloc.start()
    counts = [len(reader.read().records) for _ in range(40)]
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert counts == [1_000] * 40 and kinesis.get_records_calls == 1
    whole = 40_000 * 100  # bytes the whole expansion would hold at the least (a record struct alone is ~100)
    assert peak < whole / 4
