"""The benchmarks themis-catalog ships, one module each.

Each module's ``benchmark()`` returns its BenchmarkSpec and is registered in
the ``themis.benchmarks`` entry-point group under the benchmark id. The
offline samples in ``themis_catalog/samples/`` were written for this project
in each source's schema; they are not excerpts of the real datasets.
"""
