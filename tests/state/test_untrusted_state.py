"""No code from the state table: a forged snapshot with a pickle in it never runs, whatever it says
about itself, and a decompression bomb is refused."""

from __future__ import annotations

import base64
import math
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from consumer.detection import DetectionEngine
from consumer.state import snapshot_codec
from consumer.state.shard_state import ShardState, SnapshotUntrusted
from consumer.state.snapshot_codec import Manifest, SnapshotError, digest, encode_segment
from consumer.state.snapshot_store import SnapshotStore, position_key
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber

POSITION = ExtendedSequenceNumber(str(10**50 + 7))


class WritesMarker:
    """Unpickling this runs ``os.system``: what an attacker who can write the state table would plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def store(dynamodb_client: Any, unique_name: Callable[[str], str]) -> SnapshotStore:
    made = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
    assert made.create_table_if_missing()
    return made


def device_state(spec: str, device: str) -> dict[str, Any]:
    live = DetectionEngine.from_spec(spec, warmup=5)
    live.process_batch([Reading(device, 1_700_000_000_000 + i, {"t": 20 + math.sin(i)}) for i in range(20)])
    document: dict[str, Any] = orjson.loads(live.export_device_states()[device])
    return document


def plant(store: SnapshotStore, shard_id: str, detector: str, states: dict[str, bytes]) -> None:
    """Items as a writer without the key can make them: unfenced (an older version's layout),
    digested with plain SHA-256, which anyone can compute."""
    key = position_key(POSITION)
    segment = encode_segment(states)
    manifest = Manifest(
        shard_id=shard_id,
        position=key,
        detector=detector,
        segments={key: digest(segment, None)},
        segment_chunks={key: 1},
        devices={device: [key] for device in states},
        format_version=3,
    )
    blob = manifest.encode()
    store.put_blobs(shard_id, [("s", key, segment, None), ("m", key, blob, digest(blob, None))])


def test_a_forged_pickle_flagged_as_not_pickled_never_runs_during_restore(store: SnapshotStore, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    document = device_state("sad", "pump-1")
    document["pickle"] = False  # the bytes claim to hold no pickle
    document["model"]["detector"]["pickle"] = base64.b64encode(pickle.dumps(WritesMarker(marker))).decode()
    plant(store, "shard-1", "sad", {"pump-1": orjson.dumps(document, option=orjson.OPT_SORT_KEYS)})

    with pytest.raises(SnapshotUntrusted, match="--state-key"):
        ShardState(store, "shard-1").restore(DetectionEngine.from_spec("sad"), POSITION)
    assert not marker.exists()
    # Starting fresh on a bad snapshot does not lower the bar either.
    with pytest.raises(SnapshotUntrusted):
        ShardState(store, "shard-1", start_fresh_on_error=True).restore(DetectionEngine.from_spec("sad"), POSITION)
    assert not marker.exists()


def test_a_forged_plain_digest_does_not_pass_a_signed_worker(store: SnapshotStore, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    document = device_state("sad", "pump-1")
    document["model"]["detector"]["pickle"] = base64.b64encode(pickle.dumps(WritesMarker(marker))).decode()
    plant(store, "shard-1", "sad", {"pump-1": orjson.dumps(document, option=orjson.OPT_SORT_KEYS)})
    with pytest.raises(SnapshotError, match="integrity check"):
        ShardState(store, "shard-1", state_key=b"the key").restore(DetectionEngine.from_spec("sad"), POSITION)
    assert not marker.exists()


def test_a_detector_without_pickles_never_unpickles_what_a_snapshot_holds(store: SnapshotStore, tmp_path: Path) -> None:
    """A ``zscore`` worker reading a forged ``zscore`` state that carries a pickle and claims one."""
    marker = tmp_path / "pwned"
    document = device_state("zscore", "pump-1")
    document["pickle"] = True
    document["model"]["detector"]["pickle"] = base64.b64encode(pickle.dumps(WritesMarker(marker))).decode()
    plant(store, "shard-1", "zscore", {"pump-1": orjson.dumps(document, option=orjson.OPT_SORT_KEYS)})
    ShardState(store, "shard-1").restore(DetectionEngine.from_spec("zscore"), POSITION)
    assert not marker.exists()


def test_a_decompression_bomb_in_the_state_table_is_rejected(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_codec, "MAX_RAW_BYTES", 1_000_000)
    key = position_key(POSITION)
    bomb = zstandard.ZstdCompressor(level=1).compress(b"\0" * 4_000_000)  # under a kilobyte stored
    manifest = Manifest(
        shard_id="shard-1",
        position=key,
        detector="context",
        segments={key: digest(bomb, None)},
        segment_chunks={key: 1},
        devices={"pump-1": [key]},
        format_version=3,
    )
    blob = manifest.encode()
    store.put_blobs("shard-1", [("s", key, bomb, None), ("m", key, blob, digest(blob, None))])
    with pytest.raises(SnapshotError, match="declares 4000000 bytes"):
        ShardState(store, "shard-1").restore(DetectionEngine.from_spec("context"), POSITION)
