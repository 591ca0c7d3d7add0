"""Deferred execution: submit a run now, let workers run it later.

``submit_experiment`` compiles an experiment, stores its snapshot and a
recipe a worker rebuilds it from (``recipes``), and returns the run id
without calling a model. ``run_worker`` (``worker``) takes submitted runs
from a store and runs each as an ordinary run on that store, so several
workers on one run share it through the store's work leases.
"""
