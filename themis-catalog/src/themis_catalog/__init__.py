"""themis-catalog: named benchmarks for Themis.

Use it through ``themis.catalog`` (``themis.catalog.run("gsm8k", model=...)``).
This distribution registers the catalog API (``themis.adapters`` group, entry
point ``catalog``), its benchmarks (``themis.benchmarks``), and the parsers,
metrics and reducer they need (``catalog/...`` ids).
"""
