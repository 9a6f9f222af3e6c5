"""The per-device reference path: a device's model, its preprocessing and its score calibration."""
