"""Themis core: authoring."""
