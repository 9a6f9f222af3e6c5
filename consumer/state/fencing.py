"""Fencing a shard's snapshot writes by the owner's tenure.

Every item a :class:`~consumer.state.shard_state.ShardState` writes is keyed by its *epoch*
(:func:`new_epoch`: the time, the lease owner and the ``leaseCounter`` it restored under, and a
random tag), so two owners never write the same item: a former owner that wakes after a takeover
and saves at the position the new owner committed writes items of its own, beside the committed
ones. The conditional checkpoint write records the snapshot it commits (``SaveResult.snapshot``,
the lease row's ``stateManifest``), and ``ShardState.restore`` reads that one. Without it (the
KCL runtime, whose checkpoint cannot carry it, a row written before fencing, or a parent's
``SHARD_END``) a restore reads the snapshots at the checkpoint's position newest epoch first,
then the unfenced one of older versions, and uses the first that is whole and verifies.
"""

from __future__ import annotations

import re
import secrets
import time

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def new_epoch(owner: str | None = None, lease_counter: int | None = None) -> str:
    """A writer's epoch, unique to one owner's tenure: the time in milliseconds (so epochs sort
    by age), the lease owner and counter when the runtime knows them, and a random tag. Safe in
    an item key (no ``#`` or ``/``)."""
    parts = [f"{int(time.time() * 1000):013d}"]
    if owner is not None:
        parts.append(_UNSAFE.sub("_", owner)[:64])
    if lease_counter is not None:
        parts.append(str(lease_counter))
    parts.append(secrets.token_hex(3))
    return ".".join(parts)
