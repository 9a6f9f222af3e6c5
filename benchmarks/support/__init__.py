"""Support code of the benchmark scripts: the harness, the trained fleet, reference costs, make bench."""
