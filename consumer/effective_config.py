"""The detection settings in force: validated at start-up and written out with their values.

``--detector``, ``--threshold`` and ``--warmup`` default to ``None`` (the engine's measured
defaults). :func:`resolve_detection` builds one engine from them before any AWS call and feeds
it two readings of a throwaway device (a device's model is built on its first reading, river's
with the spec's parameters), so a spec the engine cannot run stops the command with one line
instead of every shard crashing later while the worker looks healthy. It returns the settings
with the values the engine chose in place of ``None``: the canonical spec, the threshold and the
warm-up. A worker built from the
resolved settings builds the same engine (the canonical spec parses to the same spec), and its
start-up log and ``status`` show numbers rather than nulls.
"""

from __future__ import annotations

import dataclasses

from consumer.detection import (
    DEFAULT_DETECTOR,
    DEFAULT_THRESHOLD,
    DEFAULT_WARMUP,
    DETECTORS,
    DetectionEngine,
    InvalidDetectorSpec,
)
from consumer.detection.spec import PIPELINE_PARAMS
from consumer.settings import Settings, SettingsError
from consumer.values.reading import Reading

# a device id no fleet uses; the engine that sees it is thrown away
_CHECK_READINGS = (Reading("startup-check", 0, {"value": 1.0}), Reading("startup-check", 1000, {"value": 2.0}))


def _one_line(spec: str | None, error: InvalidDetectorSpec) -> str:
    """The engine's message names every detector over several lines; a start-up error is one line."""
    first = str(error).splitlines()[0].rstrip(":").removesuffix("; valid detectors").rstrip()
    name = (spec or "").partition(":")[0].strip().lower()
    if name in DETECTORS:
        own = ", ".join(DETECTORS[name]) or "none of its own"
        hint = f"{name} takes {own}; every detector takes {', '.join(PIPELINE_PARAMS)}"
    else:
        hint = f"detectors: {', '.join(DETECTORS)}"
    return f"--detector {spec!r}: {first} ({hint}; `anomaly-consumer run --help` shows the defaults)"


def resolve_detection(settings: Settings) -> Settings:
    """``settings`` with the detector, threshold and warm-up the engine will use.

    Raises :class:`SettingsError` (one line) when no engine can be built from them.
    """
    try:
        engine = DetectionEngine.from_spec(
            settings.detector, threshold=settings.threshold, seed=settings.seed, warmup=settings.warmup
        )
        engine.process_batch(_CHECK_READINGS)
    except InvalidDetectorSpec as error:
        raise SettingsError(_one_line(settings.detector, error)) from error
    except ImportError as error:  # a river detector in an install without river
        raise SettingsError(f"--detector {settings.detector!r} needs a package not installed: {error}") from error
    except (ValueError, TypeError, IndexError, ArithmeticError) as error:  # a parameter the model refuses
        raise SettingsError(f"--detector {settings.detector!r}: the detector cannot run with it ({error})") from error
    return dataclasses.replace(
        settings, detector=engine.detector_name, threshold=engine.threshold, warmup=engine.warmup
    )


def detection_summary(settings: Settings) -> str:
    """The resolved detection settings as a short block of text (for ``status``)."""
    resolved = resolve_detection(settings)
    return "\n".join(
        (
            f"detector   {resolved.detector}",
            f"threshold  {resolved.threshold}",
            f"warm-up    {resolved.warmup} readings per device before it can raise an anomaly other than a "
            "gross outlier",
            f"seed       {resolved.seed}",
        )
    )


def detection_defaults() -> dict[str, object]:
    """What ``None`` stands for in the detection settings, for ``--help``."""
    return {"detector": DEFAULT_DETECTOR, "threshold": DEFAULT_THRESHOLD, "warmup": DEFAULT_WARMUP}
