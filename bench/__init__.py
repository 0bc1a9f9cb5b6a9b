"""Benchmarks (`make bench`): ingest, processing, admin pages and memory, each against a baseline.

Nothing in the service imports this package; it is served only when ROOT_URLCONF=bench.urls.
"""
