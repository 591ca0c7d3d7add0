"""``themis view``: a local web server showing the runs of a store as they happen.

It lists the store's runs, serves each run's HTML report and comparisons of
any runs, and the pages poll a small version endpoint so they reload when a
run that is still going stores new results. It binds 127.0.0.1 only and
reads the store; it never writes. Built on the standard library's
``http.server``: one process, one store, no dependencies.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from themis.core.analysis.html.compare import render_comparison
from themis.core.analysis.html.page import document, table, when
from themis.core.analysis.html.report import render_report
from themis.core.analysis.run_overview import RunOverview, list_run_overviews
from themis.core.analysis.stats import StatsEngine
from themis.core.models import RunStatus
from themis.core.storage.stores.base import RunStore, UnknownRunError

PAGE_CACHE = 8
"""Rendered pages kept; a page is rebuilt only when its runs changed."""


class RunViewer:
    """What the server shows, independent of HTTP: pages and versions of one store.

    Store access is serialised by one lock (a store connection is not meant
    for concurrent readers); rendered pages are cached by the version of the
    runs they show, so a finished run's report is built once.
    """

    def __init__(self, store: RunStore, *, stats: StatsEngine | None = None) -> None:
        self.store = store
        self.stats = stats or StatsEngine()
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, ...], str] = {}

    def run_version(self, run_id: str) -> str:
        """Changes whenever the run stores a result or changes status."""
        with self._lock:
            stored = self.store.resume(run_id)
            if stored is None:
                raise UnknownRunError(f"no run {run_id!r} in this store")
            items = len(self.store.work_items(run_id))
        return f"{stored.status.value}:{stored.completed_through_stage}:{items}"

    def store_version(self) -> str:
        """Changes when a run is added or changes status, and, while a run is
        going, whenever it stores a result (the list's cases and means move)."""
        with self._lock:
            runs = self.store.list_runs()
            stored = {
                r.run_id: len(self.store.work_items(r.run_id))
                for r in runs
                if r.status is RunStatus.running
            }
        return "|".join(
            f"{r.run_id}:{r.status.value}:{r.completed_through_stage}"
            + (f":{stored[r.run_id]}" if r.run_id in stored else "")
            for r in runs
        )

    def overviews(self) -> list[RunOverview]:
        with self._lock:
            return list_run_overviews(self.store)

    def _remember(self, key: tuple[str, ...], page: str) -> str:
        self._pages[key] = page
        while len(self._pages) > PAGE_CACHE:
            self._pages.pop(next(iter(self._pages)))
        return page

    def report(self, run_id: str) -> str:
        version = self.run_version(run_id)
        key = ("report", run_id, version)
        if key in self._pages:
            return self._pages[key]
        with self._lock:
            page = render_report(
                self.store,
                run_id,
                stats=self.stats,
                live_url=f"/api/runs/{quote(run_id)}/version",
                live_version=version,
            )
        return self._remember(key, page)

    def comparison(self, run_ids: list[str]) -> str:
        version = self.comparison_version(run_ids)
        key = ("compare", *run_ids, version)
        if key in self._pages:
            return self._pages[key]
        query = "&".join(f"run={quote(run_id)}" for run_id in run_ids)
        with self._lock:
            page = render_comparison(
                self.store,
                run_ids,
                stats=self.stats,
                live_url=f"/api/compare/version?{query}",
                live_version=version,
            )
        return self._remember(key, page)

    def oldest_first(self, run_ids: list[str]) -> list[str]:
        """``run_ids`` by start time, oldest first (the baseline of a comparison)."""
        started = {o.run_id: o.started_at or 0.0 for o in self.overviews()}
        return sorted(run_ids, key=lambda run_id: started.get(run_id, 0.0))

    def comparison_version(self, run_ids: list[str]) -> str:
        return ";".join(self.run_version(run_id) for run_id in run_ids)

    def index(self) -> str:
        overviews = self.overviews()
        rows = "".join(
            "<tr>"
            f'<td><input type="checkbox" name="run" value="{escape(o.run_id)}" '
            f'aria-label="compare {escape(o.run_id)}"></td>'
            f'<td><a href="/runs/{quote(o.run_id)}">{escape(o.run_id)}</a></td>'
            f"<td>{escape(when(o.started_at))}</td>"
            f'<td class="status-{escape(o.status.value)}">{escape(o.status.value)}</td>'
            f"<td>{escape(o.generator + (f' · {o.model}' if o.model else ''))}</td>"
            f"<td>{escape(', '.join(f'{d} ({n})' for d, n in o.dataset_cases.items()))}</td>"
            f"<td>{o.cases} ({o.failed_cases} failed)</td>"
            f"<td>{escape(o.describe_means())}</td>"
            f"<td>{_reused(o)}</td></tr>"
            for o in reversed(overviews)
        )
        head = "".join(
            f"<th>{escape(h)}</th>"
            for h in ("", "run", "started", "status", "generator", "datasets", "cases", "means",
                      "reused")
        )  # fmt: skip
        body = (
            "<header><h1>Themis runs</h1>"
            f'<p class="muted">{len(overviews)} runs in {escape(repr(self.store))}, newest '
            "first; this page refreshes when a run changes.</p></header>"
            '<form action="/compare" method="get"><section><table class="static" id="runs">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            '<input type="hidden" name="baseline" value="oldest">'
            '<p><button type="submit" id="compare">compare selected runs</button> '
            '<span class="muted">(two or more; the oldest is the baseline)</span></p>'
            "</section></form>"
        )
        if not overviews:
            body += table(["nothing here yet"], [["run an experiment into this store"]])
        return document(
            title="Themis runs",
            body=body,
            data={"kind": "index"},
            chunks=[],
            live_url="/api/version",
            live_version=self.store_version(),
        )


def _reused(overview: RunOverview) -> str:
    if not overview.work_items:
        return "-"
    if overview.reused == overview.work_items:
        return f"all {overview.work_items}"
    return f"{overview.reused} of {overview.work_items}"


class _Handler(BaseHTTPRequestHandler):
    viewer: RunViewer
    server_version = "themis-view"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the URL, not every poll."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        try:
            if not parts:
                self._send(self.viewer.index())
            elif parts == ["api", "version"]:
                self._json({"version": self.viewer.store_version()})
            elif parts == ["api", "runs"]:
                self._json([o.model_dump(mode="json") for o in self.viewer.overviews()])
            elif len(parts) == 4 and parts[:2] == ["api", "runs"] and parts[3] == "version":
                self._json({"version": self.viewer.run_version(parts[2])})
            elif parts == ["api", "compare", "version"]:
                self._json({"version": self.viewer.comparison_version(query.get("run", []))})
            elif len(parts) == 2 and parts[0] == "runs":
                self._send(self.viewer.report(parts[1]))
            elif parts == ["compare"]:
                runs = query.get("run", [])
                if query.get("baseline") == ["oldest"]:
                    runs = self.viewer.oldest_first(runs)
                if len(runs) < 2:
                    self._error(HTTPStatus.BAD_REQUEST, "select two or more runs to compare")
                    return
                self._send(self.viewer.comparison(runs))
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no page at {url.path}")
        except (UnknownRunError, ValueError) as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))

    def _send(self, page: str, content_type: str = "text/html; charset=utf-8") -> None:
        body = page.encode("utf-8")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: Any) -> None:
        self._send(json.dumps(payload), "application/json")

    def _error(self, status: HTTPStatus, message: str) -> None:
        body = (
            f"<!DOCTYPE html><title>{status.value}</title><h1>{status.phrase}</h1>"
            f'<p>{escape(message)}</p><p><a href="/">all runs</a></p>'
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server on 127.0.0.1; ``port=0`` takes a free port."""

    daemon_threads = True

    def __init__(self, viewer: RunViewer, *, host: str = "127.0.0.1", port: int = 0) -> None:
        handler: Callable[..., _Handler] = type("Handler", (_Handler,), {"viewer": viewer})
        super().__init__((host, port), handler)
        self.viewer = viewer

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"
