"""Follow every shard of a stream and return the new JSON documents on each poll (for the demo
and the benchmarks; the worker itself reads through leases)."""

from __future__ import annotations

from typing import Any

import orjson


class StreamTail:
    def __init__(self, kinesis: Any, stream: str) -> None:
        self._kinesis = kinesis
        self.stream = stream
        self._iterators: dict[str, str | None] = {}

    def _discover(self) -> None:
        for shard in self._kinesis.list_shards(StreamName=self.stream)["Shards"]:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self._kinesis.get_shard_iterator(
                    StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def poll(self) -> list[dict[str, Any]]:
        """Everything written since the last poll, shard by shard."""
        self._discover()
        out: list[dict[str, Any]] = []
        for shard_id, start in list(self._iterators.items()):
            iterator = start
            while iterator:
                response = self._kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                out.extend(orjson.loads(record["Data"]) for record in response["Records"])
                iterator = response.get("NextShardIterator")
                if not response["Records"]:
                    break
            self._iterators[shard_id] = iterator
        return out
