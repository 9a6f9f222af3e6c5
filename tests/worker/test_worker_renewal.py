"""The worker in process on moto, its lease table made to fail underneath it: a renewer that
cannot reach the table stops the worker, which releases what it can and raises ``RenewalStalled``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from consumer.aws.clients import make_clients
from consumer.leases.lease import Lease, RenewalStalled
from consumer.leases.lease_table import LeaseTable
from consumer.settings import Settings
from consumer.worker.worker import Worker
from tests.fixtures.workers import REGION, StreamSet, wait_for

pytestmark = pytest.mark.slow


class RefusingRenewals(LeaseTable):
    """The worker's real table, whose renewals are refused (an expired token) once ``refuse`` is set."""

    def __init__(self, table: LeaseTable) -> None:
        super().__init__(table._ddb, table.table_name)
        self.refuse = threading.Event()

    def renew_lease(self, lease: Lease) -> None:
        if self.refuse.is_set():
            raise ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "expired"}}, "UpdateItem")
        super().renew_lease(lease)


def in_process_worker(streams: StreamSet, worker_id: str) -> tuple[Worker, RefusingRenewals]:
    settings = Settings(
        endpoint_url=streams.endpoint,
        region=REGION,
        worker_id=worker_id,
        stream=streams.stream,
        output_stream=streams.output_stream,
        dead_letter_stream=streams.dead_letter_stream,
        application_name=streams.application_name,
        initial_position="TRIM_HORIZON",
        failover_time=1.5,
        idle_time_between_reads=0.2,
        state="off",
    )
    worker = Worker(settings, make_clients(settings))
    table = RefusingRenewals(worker.table)
    worker.table = worker.coordinator.table = table
    return worker, table


def test_worker_stops_releases_and_raises_when_no_renewal_gets_through(
    make_streams: Callable[..., StreamSet],
) -> None:
    streams = make_streams(shards=2)
    worker, table = in_process_worker(streams, "cut-off")
    raised: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as error:  # noqa: BLE001 - the test inspects what run() raised
            raised.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: len(worker.live_status()["held"]) == 2 and len(worker.consumers) == 2, 30, "both shards running")
    table.refuse.set()
    thread.join(30)
    assert not thread.is_alive(), "the worker kept running without a single renewal"
    assert len(raised) == 1 and isinstance(raised[0], RenewalStalled)
    assert worker.consumers == {}
    rows = table.list_leases()
    assert [lease.lease_owner for lease in rows] == [None, None]  # released for the peers to take at once
    assert worker.coordinator.renewal_failures >= 2
