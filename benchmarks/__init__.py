"""Benchmark scripts (`make bench` runs `python -m benchmarks.support.run_all`); figures go to bench-output/."""
