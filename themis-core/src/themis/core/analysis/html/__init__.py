"""Self-contained HTML views of stored runs: a run report and a run comparison.

Each page is one file with its styles, script, plots (inline SVG drawn in
Python) and data inline, so it opens from disk or an e-mail attachment with no
network. The case table's rows are inline JSON; each case's full detail sits
in gzip-compressed chunks that the page decompresses only when a case is
opened, so a report of 100,000 cases stays quick to load and to search.
"""

from themis.core.analysis.html.compare import render_comparison
from themis.core.analysis.html.report import render_report

__all__ = ["render_comparison", "render_report"]
