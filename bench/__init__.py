"""Benchmark scripts (run by hand; see docs/performance.md). A package so the scripts can
share code as ``bench.sync`` and ``bench._common`` whatever else is on sys.path."""
