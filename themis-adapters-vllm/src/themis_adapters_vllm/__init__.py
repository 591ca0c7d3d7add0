"""Themis adapter for vllm: not implemented yet (issue 7); registers no entry points."""
