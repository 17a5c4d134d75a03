"""Placeholder replaced by the benchmark runner (see README)."""
