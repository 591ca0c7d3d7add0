"""Themis core: storage."""
