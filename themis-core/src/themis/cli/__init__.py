"""The ``themis`` command line."""
