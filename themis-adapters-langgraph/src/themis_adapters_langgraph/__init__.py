"""Themis adapter for LangGraph: a generator over a compiled graph.

``from themis.adapters import langgraph`` resolves :func:`langgraph` through
the ``themis.adapters`` entry point. By default the graph's event stream
becomes the candidate's trace (``capture_trace=False`` turns that off).
"""

from __future__ import annotations

from themis_adapters_langgraph.generator import LangGraphGenerator, default_input, langgraph

__all__ = ["LangGraphGenerator", "default_input", "langgraph"]
