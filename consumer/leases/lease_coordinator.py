"""This worker's side of the lease table: which leases it holds and what happens to them.

- A :class:`Lease` object held here stands for one *ownership epoch*: from the take that put it
  in :attr:`held` until the lease is lost, handed over or released. Taking a lease again makes a
  new object, and the old object, with the consumer that holds it, is never revived: its
  conditional writes keep failing, whatever the table says later.
- :meth:`renew_all` (every ``failover_time / 3``, on its own thread) renews each held lease. A
  failed condition means the lease is lost, except in two cases read back from the table: the
  lease was handed to another worker with us as ``checkpointOwner`` (a graceful handoff: we
  finish and write a final checkpoint), or it is still ours *in the same epoch* and only the
  counter moved (the old owner's final handoff checkpoint), in which case we adopt the counter.
- Each lease is renewed on a small pool of its own, behind an exception boundary: any other
  error (an expired token, an SSL or connection error, a table that does not answer) is logged,
  counted (:attr:`renewal_failures`) and tried again at the next round, and never ends the
  renewer. A renewal still in flight is not started again, and one whose lease stays busy with a
  write of its shard (a checkpoint stuck in its call) is skipped for the round, so neither a
  stuck call nor a stuck checkpoint holds up the renewal of any other lease.
  :meth:`renewal_stalled` is true once the table has answered none of this worker's renewals for
  a whole failover time while it held leases: its peers now judge them expired.
- :meth:`scan_and_take` reads the table; a held lease the table shows owned by another worker
  (and not being handed over by us) is lost, found without waiting for the next renewal
  (:meth:`pop_lost`). It takes expired and unowned leases up to the balancing target, and steals
  at most one lease per cycle by graceful handoff, never one it still holds.
- :meth:`startable` says which held leases may start: every parent at ``SHARD_END`` (or gone),
  and no previous owner still finishing (``checkpointOwner``), unless the previous owner is dead
  (every other lease it holds has expired) or the handoff timed out. The timeout runs from the
  first time this worker held the lease waiting, however it came to hold it (a steal, or a
  restart that adopts a lease the table names it owner of), so a handoff always ends.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from consumer.aws.errors import error_code
from consumer.leases.lease import Lease, LeaseLost
from consumer.leases.lease_table import LeaseTable
from consumer.leases.lease_taker import LeaseObserver, plan_takes
from consumer.logs import get_logger

log = get_logger(__name__)

RENEWAL_THREADS = 8


@dataclass(frozen=True)
class RenewalOutcome:
    """What happened to one held lease. ``lease`` is the object of the epoch concerned: only the
    consumer holding that very object is to be told."""

    lease_key: str
    kind: str  # "lost" or "handoff"
    lease: Lease


class LeaseCoordinator:
    def __init__(
        self,
        table: LeaseTable,
        worker_id: str,
        *,
        failover_time: float,
        max_leases_per_worker: int = 0,
        handoff_timeout: float = 30.0,
        failed_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.worker_id = worker_id
        self.failover_time = failover_time
        self.max_leases_per_worker = max_leases_per_worker
        self.handoff_timeout = handoff_timeout
        self.failed_cooldown = failed_cooldown
        self._clock = clock
        self.observer = LeaseObserver(failover_time, clock)
        self._lock = threading.Lock()
        self.held: dict[str, Lease] = {}
        self.view: dict[str, Lease] = {}
        self._handoff_started: dict[str, float] = {}
        self._cooldown_until: dict[str, float] = {}
        self._dead_owners: set[str] = set()
        self._lost_in_scan: list[RenewalOutcome] = []
        self._renewing: dict[str, tuple[Lease, Future[RenewalOutcome | None]]] = {}
        self._renewal_pool: ThreadPoolExecutor | None = None
        # Since when renewals have gone out without the table answering any (None: it answered).
        self._unanswered_since: float | None = None
        self._running_at: float | None = None  # when this process last showed it runs (see _note_running)
        self.renewals = 0
        self.renewal_failures = 0
        self.scans = 0

    # ------------------------------------------------------------------ renewal
    def renew_all(self, wait_seconds: float | None = None) -> list[RenewalOutcome]:
        """Start a renewal of every held lease that has none in flight, wait for them up to
        ``wait_seconds`` (default ``failover_time / 3``), and return the outcomes of those that
        finished. A renewal that did not finish is collected at a later round."""
        with self._lock:
            held = list(self.held.values())
            self._note_running()
            if not held:
                self._unanswered_since = None
            elif self._unanswered_since is None:
                self._unanswered_since = self._clock()
        if self._renewal_pool is None:
            self._renewal_pool = ThreadPoolExecutor(RENEWAL_THREADS, thread_name_prefix="lease-renewal")
        for lease in held:
            if lease.lease_key not in self._renewing:
                self._renewing[lease.lease_key] = (lease, self._renewal_pool.submit(self._renew_guarded, lease))
        pending = [future for _, future in self._renewing.values()]
        wait(pending, timeout=self.failover_time / 3 if wait_seconds is None else wait_seconds)
        with self._lock:
            self._note_running()
        outcomes = []
        for key, (lease, future) in list(self._renewing.items()):
            if not future.done():
                continue
            del self._renewing[key]
            outcome = future.result()
            if outcome is not None:
                outcomes.append(outcome)
                self._drop(lease)
        return outcomes

    def _note_running(self) -> None:
        """Called (under the lock) at least every failover time / 3 while this process runs. A gap
        longer than a failover time means the process itself did not run (paused, or starved of
        CPU): renewals that went out before it are judged from now on, not from before the gap,
        as the expiry clocks of an observer start afresh after a gap in its scans."""
        now = self._clock()
        paused = self._running_at is not None and now - self._running_at > self.failover_time
        if paused and self._unanswered_since is not None:
            self._unanswered_since = now
        self._running_at = now

    def renewal_stalled(self) -> bool:
        """True when this worker holds leases and the table has answered none of its renewals
        for a whole failover time since they went out. Counted from the first unanswered
        renewal, not from the last answer, so a process that was paused is judged on what
        happens after it resumes."""
        with self._lock:
            if not self.held:
                return False
            since = self._unanswered_since
        return since is not None and self._clock() - since > self.failover_time

    def close(self) -> None:
        """Stop the renewal pool without waiting for a renewal stuck in a call."""
        if self._renewal_pool is not None:
            self._renewal_pool.shutdown(wait=False, cancel_futures=True)

    def _renew_guarded(self, lease: Lease) -> RenewalOutcome | None:
        """The exception boundary of one lease's renewal: nothing but an outcome leaves it."""
        # A write of the shard's own (a checkpoint) holds the lock for one call: wait that long,
        # not for a call that is stuck (the checkpoint then moves the counter, or fails, itself).
        if not lease.lock.acquire(timeout=self.failover_time / 6):
            return None
        try:
            outcome = self._renew(lease)
        except Exception as error:  # noqa: BLE001 - one renewal's failure must never end the renewer: logged, counted, retried next round
            with self._lock:
                self.renewal_failures += 1
            log.warning("lease_renewal_failed", shard_id=lease.lease_key, error=error_code(error), detail=str(error))
            return None
        finally:
            lease.lock.release()
        with self._lock:
            self._unanswered_since = None
        return outcome

    def _holds(self, lease: Lease) -> bool:
        """True while ``lease`` is the object of this worker's current epoch for its key."""
        with self._lock:
            return self.held.get(lease.lease_key) is lease

    def _drop(self, lease: Lease) -> None:
        """Stop holding ``lease``, unless its key is already held under a newer epoch."""
        with self._lock:
            if self.held.get(lease.lease_key) is lease:
                del self.held[lease.lease_key]

    def _renew(self, lease: Lease) -> RenewalOutcome | None:
        try:
            self.table.renew_lease(lease)
            self.renewals += 1
            return None
        except LeaseLost:
            fresh = self.table.get_lease(lease.lease_key)
        # Only the object of the current epoch may adopt the row's counter or be handed over. One
        # whose key was taken again (a new object) or released meanwhile is lost, whatever the row
        # says now: the consumer holding it must stop.
        current = self._holds(lease)
        if current and fresh is not None and fresh.lease_owner == self.worker_id:
            # Still ours in this epoch: the previous owner's final handoff checkpoint moved the counter.
            with lease.lock:
                lease.lease_counter = fresh.lease_counter
                lease.checkpoint = max(lease.checkpoint, fresh.checkpoint)
                lease.checkpoint_owner = fresh.checkpoint_owner
            return None
        if current and fresh is not None and fresh.checkpoint_owner == self.worker_id:
            with lease.lock:
                lease.lease_owner = fresh.lease_owner
                lease.checkpoint_owner = self.worker_id
                lease.lease_counter = fresh.lease_counter
            log.info("lease_handoff_requested", shard_id=lease.lease_key, new_owner=fresh.lease_owner)
            return RenewalOutcome(lease.lease_key, "handoff", lease)
        log.warning("lease_lost_on_renewal", shard_id=lease.lease_key, owner=fresh.lease_owner if fresh else None)
        return RenewalOutcome(lease.lease_key, "lost", lease)

    # ------------------------------------------------------------------ taking
    def scan_and_take(self) -> list[Lease]:
        """One taker cycle; returns the leases newly held."""
        leases = self.table.list_leases()
        self.scans += 1
        self.observer.observe(leases)
        now = self._clock()
        with self._lock:
            if not self.held:
                self._unanswered_since = None  # a first lease gets a whole failover time to be renewed
        # An owner all of whose leases expired is dead until it is seen holding a live lease again.
        live = self.observer.live_owners(leases)
        owners = {lease.lease_owner for lease in leases if lease.lease_owner}
        self._dead_owners = (self._dead_owners | (owners - live)) - live
        with self._lock:
            self.view = {lease.lease_key: lease for lease in leases}
            for key, mine in list(self.held.items()):
                seen = self.view.get(key)
                # Another owner, and not a handoff from us: lost while we were not looking (a
                # paused process, a renewal that came too late). Only this thread takes leases,
                # so no take of ours can have happened since the read.
                if seen is not None and self.worker_id not in (seen.lease_owner, seen.checkpoint_owner):
                    del self.held[key]
                    self._lost_in_scan.append(RenewalOutcome(key, "lost", mine))
                    log.warning("lease_lost_on_scan", shard_id=key, owner=seen.lease_owner)
            held_keys = set(self.held)
        active = [lease for lease in leases if not lease.checkpoint.is_shard_end]
        # Leases the table says are ours but we do not hold (a restart with the same worker id).
        adopt = [lease for lease in active if lease.lease_owner == self.worker_id and lease.lease_key not in held_keys]
        plan = plan_takes(
            active,
            self.worker_id,
            self.observer,
            max_leases_per_worker=self.max_leases_per_worker,
            steal_allowed=self.observer.settled,
        )
        takes = [
            lease
            for lease in plan.take
            if lease.lease_key not in held_keys
            and lease.lease_owner != self.worker_id
            and self._cooldown_until.get(lease.lease_key, 0.0) <= now
        ]
        taken: list[Lease] = []
        for lease in adopt:
            # Ours already (a restart with the same id): a renewal, not a take, so a handoff to us
            # that is still under way is waited for, its timeout running from now.
            try:
                self.table.renew_lease(lease)
            except LeaseLost:
                continue
            self._handoff_started.pop(lease.lease_key, None)
            taken.append(lease)
        for lease in takes:
            try:
                self.table.take_lease(lease, self.worker_id)
            except LeaseLost:
                continue
            self._handoff_started.pop(lease.lease_key, None)
            taken.append(lease)
        if plan.steal is not None and plan.steal.lease_key not in held_keys and not taken and not plan.take:
            victim = plan.steal
            try:
                self.table.request_handoff(victim, self.worker_id)
            except LeaseLost:
                pass
            else:
                self._handoff_started[victim.lease_key] = now
                taken.append(victim)
                log.info("lease_stolen", shard_id=victim.lease_key, previous_owner=victim.checkpoint_owner)
        with self._lock:
            for lease in taken:
                self.held[lease.lease_key] = lease
        if taken:
            log.info("leases_taken", shard_ids=[lease.lease_key for lease in taken], target=plan.target)
        return taken

    def pop_lost(self) -> list[RenewalOutcome]:
        """The leases :meth:`scan_and_take` found lost since the last call (each reported once)."""
        with self._lock:
            lost, self._lost_in_scan = self._lost_in_scan, []
        return lost

    # ------------------------------------------------------------------ starting
    def parents_done(self, lease: Lease) -> bool:
        for parent in lease.parent_shard_ids:
            seen = self.view.get(parent)
            if seen is not None and not seen.checkpoint.is_shard_end:
                return False
        return True

    def startable(self, running: set[str]) -> list[Lease]:
        now = self._clock()
        ready = []
        with self._lock:
            held = [lease for key, lease in self.held.items() if key not in running]
        for lease in held:
            if lease.lease_owner != self.worker_id:
                continue  # handed over; the shard's consumer is finishing and will let it go
            seen = self.view.get(lease.lease_key)
            if seen is not None and seen.lease_owner == self.worker_id:
                with lease.lock:  # another worker may have checkpointed it since we took it
                    lease.checkpoint = max(lease.checkpoint, seen.checkpoint)
            if lease.checkpoint.is_shard_end or not self.parents_done(lease):
                continue
            previous_owner_finishing = lease.checkpoint_owner and lease.checkpoint_owner != self.worker_id
            if previous_owner_finishing and not self._handoff_finished(lease, now):
                continue
            self._handoff_started.pop(lease.lease_key, None)
            ready.append(lease)
        return ready

    def _handoff_finished(self, lease: Lease, now: float) -> bool:
        seen = self.view.get(lease.lease_key)
        if seen is not None and not seen.checkpoint_owner and seen.lease_owner == self.worker_id:
            with lease.lock:
                lease.checkpoint = max(lease.checkpoint, seen.checkpoint)
                lease.lease_counter = max(lease.lease_counter, seen.lease_counter)
                lease.checkpoint_owner = None
            return True
        previous = lease.checkpoint_owner or ""
        previous_dead = previous in self._dead_owners
        # The clock starts the first time this worker waits on the lease, however it came to hold it.
        started = self._handoff_started.setdefault(lease.lease_key, now)
        if not previous_dead and now - started < self.handoff_timeout:
            return False
        log.warning("handoff_abandoned", shard_id=lease.lease_key, previous_owner=previous, previous_dead=previous_dead)
        try:
            self.table.clear_checkpoint_owner(lease)
        except LeaseLost:
            self.forget(lease)
            return False
        fresh = self.table.get_lease(lease.lease_key)
        if fresh is not None:
            with lease.lock:
                lease.checkpoint = max(lease.checkpoint, fresh.checkpoint)
        return True

    # ------------------------------------------------------------------ giving up
    def forget(self, lease: Lease) -> None:
        """Stop holding ``lease`` (a no-op when its key is held under a newer epoch)."""
        self._drop(lease)

    def release(self, lease: Lease, cooldown: bool = False) -> None:
        """Evict a held lease so another worker can take it at once."""
        self.forget(lease)
        if cooldown:
            self._cooldown_until[lease.lease_key] = self._clock() + self.failed_cooldown
        try:
            self.table.evict_lease(lease)
        except LeaseLost:
            log.info("release_skipped", shard_id=lease.lease_key, reason="no longer ours")

    def release_handoff(self, lease: Lease) -> None:
        """After a handed-over shard shut down: clear ``checkpointOwner`` if still ours."""
        # LeaseLost here: the final checkpoint already cleared it, or the new owner timed out.
        with contextlib.suppress(LeaseLost):
            self.table.handoff_checkpoint(lease, self.worker_id, None)

    def held_keys(self) -> set[str]:
        with self._lock:
            return set(self.held)
