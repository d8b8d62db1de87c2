"""Benchmarks run by hand (python bench/<name>.py): the scripts, their shared harness and data generator."""
