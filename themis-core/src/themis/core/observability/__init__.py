"""Themis core: observability."""
