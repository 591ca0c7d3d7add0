"""Themis core: analysis."""
