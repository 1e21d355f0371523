"""Load benchmarks of raybase: `python -m benchmarks.load --help`."""
