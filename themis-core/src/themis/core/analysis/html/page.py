"""The shell every HTML view shares: styles, script, inline data and detail chunks."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from themis.core.observability.redaction import is_secret_key, redact_secrets

DETAIL_CHUNK = 250
"""Cases per compressed detail chunk: opening a case decompresses this many."""


@cache
def asset(name: str) -> str:
    return (files("themis.core.analysis.html") / "assets" / name).read_text(encoding="utf-8")


def inline_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>`` can close it
    early), secret-looking keys redacted."""
    return redacted_json(value).replace("<", "\\u003c")


_JSON_KEY = re.compile(r'"([^"\\]*)":')


def redacted_json(value: Any) -> str:
    """Compact JSON of ``value`` with secret-looking keys redacted.

    Redaction walks the value only when some key in the JSON text looks like
    a secret: walking every case of a large run would cost more than the
    rest of the report together, and stored events should hold no secret.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if any(is_secret_key(key) for key in set(_JSON_KEY.findall(text))):
        text = json.dumps(
            redact_secrets(value), ensure_ascii=False, separators=(",", ":"), default=str
        )
    return text


def detail_chunk(number: int, details: list[Any]) -> str:
    """One chunk of case details, gzip-compressed and base64-encoded; the page
    inflates it with the browser's DecompressionStream when a case is opened."""
    raw = redacted_json(details)
    packed = base64.b64encode(gzip.compress(raw.encode("utf-8"), compresslevel=6, mtime=0))
    return (
        f'<script type="application/octet-stream" id="themis-chunk-{number}" '
        f'data-encoding="gzip+base64">{packed.decode("ascii")}</script>'
    )


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def document(
    *,
    title: str,
    body: str,
    data: dict[str, Any],
    chunks: Iterable[str],
    live_url: str | None = None,
    live_version: str | None = None,
) -> str:
    """A complete HTML page: everything inline, nothing fetched except the
    optional live-refresh poll of the local viewer."""
    live = ""
    if live_url is not None:
        live = (
            f' data-live-url="{escape(live_url)}" data-live-version="{escape(live_version or "")}"'
        )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # No network at view time: nothing but inline styles, scripts and images.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
            "connect-src 'self'\">",
            f"<title>{escape(title)}</title><style>{asset('report.css')}</style></head>",
            f"<body{live}>",
            body,
            f'<script type="application/json" id="themis-data">{inline_json(data)}</script>',
            *chunks,
            f"<script>{asset('report.js')}</script>",
            "</body></html>\n",
        ]
    )


def table(headers: list[str], rows: Iterable[list[str]], *, numeric_from: int = 99) -> str:
    """A static HTML table; cells are escaped here, headers too."""
    head = "".join(
        f'<th class="{"num" if i >= numeric_from else ""}">{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if i >= numeric_from else ""}">{escape(c)}</td>'
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="static"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
