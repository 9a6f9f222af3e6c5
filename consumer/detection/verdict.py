"""The engine's answer for one reading, and for a batch (:class:`Verdicts`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import compress, repeat
from types import MappingProxyType
from typing import NamedTuple, overload

#: the ``contributions`` of every verdict that is not an anomaly: one shared, read-only empty mapping
#: (a verdict per reading, and a fresh ``{}`` for each cost the wave path a measurable share)
NO_CONTRIBUTIONS: Mapping[str, float] = MappingProxyType({})


class Verdict(NamedTuple):
    """``score`` is calibrated to [0, 1] (comparable across devices and detectors); ``raw_score`` is
    the detector's own. ``is_anomaly`` is ``score >= threshold`` outside the warm-up, and within it a gross outlier
    (see :mod:`~consumer.detection.device.model`).
    ``contributions`` maps each metric to its share (summing to 1) and is filled only for anomalies
    (:data:`NO_CONTRIBUTIONS` otherwise).
    """

    score: float
    raw_score: float
    is_anomaly: bool
    warming_up: bool
    contributions: Mapping[str, float]


_new_verdict = tuple.__new__  # Verdict(...) without the Python-level NamedTuple __new__ (the hot path)

#: the verdict in the place of a reading the engine refused (see :attr:`Verdicts.refused`)
REFUSED = Verdict(0.0, 0.0, False, False, NO_CONTRIBUTIONS)


class Verdicts(Sequence[Verdict]):
    """The verdicts of a batch, aligned with its readings, kept as columns: a batch of 10,000
    readings needs its scores and its few anomalies, not 10,000 tuples. Indexing and iterating
    give :class:`Verdict` tuples (built on demand); equal to any sequence of equal verdicts.

    ``contributions`` holds only the anomalies' (position -> shares); every other verdict's is
    :data:`NO_CONTRIBUTIONS`.

    ``refused`` names the readings the engine did not score (position -> the number of metrics
    their device would have had): each would have taken its device past the engine's lifetime
    cap on metrics. Such a reading changed nothing; its verdict is :data:`REFUSED`, a placeholder
    the caller must not report as a score."""

    __slots__ = ("anomalous", "contributions", "raw_scores", "refused", "scores", "warming_up")

    def __init__(
        self,
        scores: list[float],
        raw_scores: list[float],
        anomalous: list[bool],
        warming_up: list[bool],
        contributions: dict[int, Mapping[str, float]],
        *,
        refused: dict[int, int] | None = None,
    ) -> None:
        self.scores = scores
        self.raw_scores = raw_scores
        self.anomalous = anomalous
        self.warming_up = warming_up
        self.contributions = contributions
        self.refused: dict[int, int] = refused if refused is not None else {}

    @classmethod
    def of(cls, verdicts: Sequence[Verdict]) -> Verdicts:
        if not verdicts:
            return cls([], [], [], [], {})
        scores, raws, anomalous, warming, _ = map(list, zip(*verdicts, strict=True))
        shares = {i: v.contributions for i, v in enumerate(verdicts) if v.contributions is not NO_CONTRIBUTIONS}
        return cls(scores, raws, anomalous, warming, shares)

    def without_refused(self) -> Verdicts:
        """The verdicts of the readings that were scored, in order (``self`` when none was refused)."""
        if not self.refused:
            return self
        return Verdicts.of([verdict for i, verdict in enumerate(self) if i not in self.refused])

    def anomalies(self) -> list[int]:
        """Positions of the anomalies, ascending."""
        return list(compress(range(len(self.anomalous)), self.anomalous))

    def _contributions_column(self) -> Iterator[Mapping[str, float]]:
        if not self.contributions:
            return repeat(NO_CONTRIBUTIONS, len(self.scores))
        get = self.contributions.get
        return (get(i, NO_CONTRIBUTIONS) for i in range(len(self.scores)))

    def __len__(self) -> int:
        return len(self.scores)

    @overload
    def __getitem__(self, index: int) -> Verdict: ...

    @overload
    def __getitem__(self, index: slice) -> list[Verdict]: ...

    def __getitem__(self, index: int | slice) -> Verdict | list[Verdict]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
            if index < 0:
                raise IndexError("verdict index out of range")
        return _new_verdict(
            Verdict,
            (
                self.scores[index],
                self.raw_scores[index],
                self.anomalous[index],
                self.warming_up[index],
                self.contributions.get(index, NO_CONTRIBUTIONS),
            ),
        )

    def __iter__(self) -> Iterator[Verdict]:
        columns = zip(
            self.scores, self.raw_scores, self.anomalous, self.warming_up, self._contributions_column(), strict=True
        )
        return map(_new_verdict, repeat(Verdict), columns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable columns, like a list

    def __repr__(self) -> str:
        return f"Verdicts({list(self)!r})"
