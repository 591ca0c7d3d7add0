"""Themis benchmark catalog: not implemented yet (issue 9); registers no entry points."""
