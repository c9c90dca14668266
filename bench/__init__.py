"""Benchmarks run by `make bench`. Each figure is measured beside a baseline in the same run."""
