"""Themis adapter for openai: not implemented yet (issue 7); registers no entry points."""
