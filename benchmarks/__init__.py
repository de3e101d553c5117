"""Reproducible benchmarks; each prints its ratio against a named baseline measured in the same run."""
