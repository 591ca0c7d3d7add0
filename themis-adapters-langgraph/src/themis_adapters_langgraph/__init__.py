"""Themis adapter for langgraph: not implemented yet (issue 7); registers no entry points."""
