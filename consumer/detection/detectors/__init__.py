"""The detectors: one module per detector, each behind one Protocol
(:class:`~consumer.detection.detectors.protocol.Detector`)."""
