"""Benchmarks of flagschema against plain Django, measured in the same run."""
