"""The worker end to end with ``--retrieval-mode fanout``: a real worker process reading
kinesis-mock through the SubscribeToShard test adapter (``tests.fixtures.subscribe_adapter``),
the lease table on moto. The same promises as polling: events for the spikes, every shard
checkpointed at its last sequence number, and a restarted worker resuming after those
checkpoints (its subscriptions start there) without processing any record twice; kill -9 at
random points resumes exactly (scores and model state as an uninterrupted run's); SIGTERM hands
shards to a peer without processing any record twice."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from consumer.devenv.emulators import free_port
from tests.fixtures.kinesis_mock import wait_until_active
from tests.fixtures.workers import WorkerProcess, processed, put_readings, read_stream, wait_for
from tests.observability.test_worker_endpoint import value
from tests.worker import test_crash_resume as crash
from tests.worker import test_lease_coordination as coordination
from tests.worker.test_end_to_end import SPIKES, START_MS, STEP_MS, last_sequence_by_shard, lease_map, readings

pytestmark = [pytest.mark.slow, pytest.mark.kinesis_mock]


def test_fanout_worker_detects_spikes_checkpoints_and_resumes_exactly(  # type: ignore[no-untyped-def]
    subscribe_adapter, make_streams, start_worker
):
    streams = make_streams(shards=2, kinesis_endpoint=subscribe_adapter.endpoint_url)
    kinesis = streams.kinesis()
    wait_until_active(kinesis, streams.stream)
    first_batch = readings(0, 320)
    positions = put_readings(kinesis, streams.stream, first_batch)
    flags = ("--retrieval-mode", "fanout", "--failover-time", "3", "--checkpoint-interval", "1", "--warmup", "200")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = start_worker(streams, "fan-a", *flags, "--metrics-port", str(port))
    wait_for(lambda: len(processed(worker.score_log)) >= len(first_batch), 90, "the first run to process every record")
    assert value(base, "anomaly_consumer_retrieval_mode_info", mode="fanout") == 1
    assert value(base, "anomaly_consumer_fanout_subscriptions", state="subscribed") == 2
    assert worker.terminate() == 0

    stream_arn = kinesis.describe_stream_summary(StreamName=streams.stream)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.describe_stream_consumer(StreamARN=stream_arn, ConsumerName=streams.application_name)
    assert consumer["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE"
    first_subscribes = list(subscribe_adapter.subscribe_calls)
    assert {call["StartingPosition"]["Type"] for call in first_subscribes} == {"TRIM_HORIZON"}
    assert len({call["ShardId"] for call in first_subscribes}) == 2
    assert any(line.get("event") == "stream_consumer_active" for line in worker.logs())

    events = read_stream(kinesis, streams.output_stream)
    flagged = {(event["device_id"], (event["ts_ms"] - START_MS) // STEP_MS) for event in events}
    in_first = {spike for spike in SPIKES if spike[1] < 320}
    assert in_first and flagged >= in_first, f"missed spikes: {in_first - flagged}"

    leases = lease_map(streams)
    for shard_id, last in last_sequence_by_shard(positions).items():
        assert int(leases[shard_id].checkpoint.sequence_number) == last
        assert leases[shard_id].lease_owner is None

    checkpoints = {shard: int(lease.checkpoint.sequence_number) for shard, lease in leases.items()}
    second_batch = readings(320, 360)
    put_readings(kinesis, streams.stream, second_batch)
    again = start_worker(streams, "fan-b", *flags)
    wait_for(
        lambda: len(processed(again.score_log)) >= len(first_batch) + len(second_batch),
        60,
        "the second run to process the new records",
    )
    assert again.terminate() == 0
    resumed = subscribe_adapter.subscribe_calls[len(first_subscribes) :]
    assert {call["StartingPosition"]["Type"] for call in resumed[:2]} == {"AT_SEQUENCE_NUMBER"}
    all_runs = processed(again.score_log)
    keys = Counter((entry["shard_id"], entry["sequence_number"], entry["sub_sequence_number"]) for entry in all_runs)
    assert [key for key, count in keys.items() if count > 1] == []
    second_run = [entry for entry in all_runs if entry["worker"] == "fan-b"]
    assert len(second_run) == len(second_batch)
    assert all(int(entry["sequence_number"]) > checkpoints[entry["shard_id"]] for entry in second_run)
    flagged = {
        (event["device_id"], (event["ts_ms"] - START_MS) // STEP_MS)
        for event in read_stream(kinesis, streams.output_stream)
    }
    assert flagged >= SPIKES, f"missed spikes: {SPIKES - flagged}"


def test_fanout_kill_9_at_random_points_resumes_exactly(  # type: ignore[no-untyped-def]
    subscribe_adapter, make_streams, start_worker, tmp_path
):
    streams = make_streams(shards=3, kinesis_endpoint=subscribe_adapter.endpoint_url)
    wait_until_active(streams.kinesis(), streams.stream)
    readings = crash.fleet_readings()[: 400 * len(crash.DEVICES)]
    last = last_sequence_by_shard(put_readings(streams.kinesis(), streams.stream, readings))
    rng = random.Random(2026)
    kill_points = sorted(rng.sample(range(300, len(readings) - 300), 2))
    workers: list[WorkerProcess] = []
    flags = (*crash.FLAGS, "--retrieval-mode", "fanout")
    for number, point in enumerate(kill_points):
        worker = start_worker(streams, f"crashy-{number}", *flags, score_log=tmp_path / f"crashy-{number}.jsonl")
        workers.append(worker)
        wait_for(lambda point=point: crash.distinct(workers) >= point, 120, f"{point} records before kill {number}")
        worker.kill()
    final = start_worker(streams, "survivor", *flags, score_log=tmp_path / "survivor.jsonl")
    workers.append(final)
    wait_for(lambda: crash.distinct(workers) >= len(readings), 180, "every record processed")

    # The killed workers may have processed everything already: the survivor must still have
    # taken every lease and checkpointed each shard at its last record (with the model state).
    def survivor_done() -> bool:
        leases = lease_map(streams)
        at = {key: lease.checkpoint.sequence_number for key, lease in leases.items()}  # TRIM_HORIZON until one
        reached = {key: int(position) for key, position in at.items() if position.isdigit()}
        return reached == last and all(lease.lease_owner == "survivor" for lease in leases.values())

    wait_for(survivor_done, 60, "the survivor to hold every lease, checkpointed at each shard's last record")
    assert final.terminate() == 0
    crash.assert_matches_reference(streams, workers, readings)


def test_fanout_sigterm_moves_shards_without_processing_twice(  # type: ignore[no-untyped-def]
    subscribe_adapter, make_streams, start_worker, tmp_path
):
    streams = make_streams(shards=4, kinesis_endpoint=subscribe_adapter.endpoint_url)
    kinesis = streams.kinesis()
    wait_until_active(kinesis, streams.stream)
    pool = coordination.start_pool(start_worker, streams, tmp_path, 2, "--retrieval-mode", "fanout")
    wait_for(lambda: coordination.converged(streams, [2, 2]), 60, "2/2 leases")
    total = 0
    for round_number in range(4):
        batch = coordination.readings(30, 5, offset=round_number * 5)
        put_readings(kinesis, streams.stream, batch)
        total += len(batch)
        if round_number == 1:
            assert pool[0].terminate() == 0
            wait_for(
                lambda: set(coordination.owner_counts(streams)) == {"w1"},
                6 * coordination.FAILOVER,
                "w1 to own every lease",
            )
        time.sleep(0.5)
    wait_for(lambda: len(set(coordination.record_keys(pool))) >= total, 60, "every record processed")
    keys = coordination.record_keys(pool)
    assert len(keys) == total == len(set(keys)), "a record was processed twice or skipped"
    assert pool[1].terminate() == 0
