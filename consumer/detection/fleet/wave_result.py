"""What a wave step returns, how an anomaly's score is attributed to the device's metrics, and how
the waves' results become the batch's verdicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from consumer.detection.device.model import attribute
from consumer.detection.fleet.wave_relations import RelationWave, relation_parts
from consumer.detection.verdict import NO_CONTRIBUTIONS, Verdict, Verdicts, _new_verdict


class WaveResult(NamedTuple):
    """Per row: the verdict's fields, and the contributions of the rows that are anomalies."""

    scores: npt.NDArray[np.float64]
    raws: npt.NDArray[np.float64]
    anomalous: npt.NDArray[np.bool_]
    warming: npt.NDArray[np.bool_]
    contributions: dict[int, Mapping[str, float]]  # row -> shares, anomalous rows only
    relation: frozenset[int] = frozenset()  # anomalous rows the relation test led (T² shares)


def wave_contributions(
    names: Sequence[list[str]],
    slots: npt.NDArray[np.int64],
    anomalous: npt.NDArray[np.bool_],
    novel: npt.NDArray[np.bool_],
    led: npt.NDArray[np.bool_],
    *,
    excess: npt.NDArray[np.float64],
    surprise: npt.NDArray[np.float64],
    relation: RelationWave | None,
) -> tuple[dict[int, Mapping[str, float]], frozenset[int]]:
    """The anomalous rows' contributions, as ``DeviceModel`` attributes a reading: beyond its range,
    how far each metric went (``excess[row]``); else, when the relation test led, its T² shares;
    else the detector's surprises (``surprise[row]``). With them, the rows the relation test led.
    Both wave steps (compiled and numpy) attribute through this one function, so they attribute
    alike."""
    contributions: dict[int, Mapping[str, float]] = {}
    related: set[int] = set()
    for row in np.flatnonzero(anomalous).tolist():
        if novel[row]:
            parts = [0.0 if math.isnan(v) else v for v in excess[row].tolist()]
        elif led[row] and relation is not None:
            parts = relation_parts(relation, row)
            related.add(row)
        else:
            parts = surprise[row].tolist()
        contributions[row] = attribute(names[int(slots[row])], parts)
    return contributions, frozenset(related)


def batch_verdicts(
    results: Sequence[WaveResult], positions_done: Sequence[npt.NDArray[np.int64]], verdicts: list[Verdict | None]
) -> Verdicts:
    """The batch's verdicts: ``verdicts`` (one per reading of the batch, ``None`` where a wave
    scored the reading) completed from the waves' ``results``, wave ``k``'s rows being the batch
    positions ``positions_done[k]``. Every position must be filled by one or the other."""
    if not results:
        return Verdicts.of(verdicts)  # type: ignore[arg-type]  # every position was filled
    done = np.concatenate(positions_done)
    shares: dict[int, Mapping[str, float]] = {}  # batch position -> an anomaly's contributions
    offset = 0
    for result in results:
        for row, share in result.contributions.items():
            shares[int(done[offset + row])] = share
        offset += len(result.scores)
    columns = [np.concatenate([result[field] for result in results]) for field in range(4)]
    if len(done) == len(verdicts):  # all in waves: each column in the batch's order, C-level
        order = np.argsort(done)
        scores, raws, anomalous, warming = (column[order].tolist() for column in columns)
        return Verdicts(scores, raws, anomalous, warming, dict(sorted(shares.items())))
    positions = done.tolist()
    made = zip(
        *(column.tolist() for column in columns), (shares.get(i, NO_CONTRIBUTIONS) for i in positions), strict=True
    )
    for i, fields in zip(positions, made, strict=True):
        verdicts[i] = _new_verdict(Verdict, fields)
    return Verdicts.of(verdicts)  # type: ignore[arg-type]  # every position was filled
