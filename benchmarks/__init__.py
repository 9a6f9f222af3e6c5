"""Benchmark scripts (`make bench` runs `python -m benchmarks.run_all`); figures go to bench-output/."""
