// Themis report pages: a searchable, filterable, paged case table and a
// per-case drill-down. Plain JavaScript with no dependencies and no network:
// rows are inline JSON; case details are gzip chunks inflated on demand.
// Everything from the data is written with textContent, never as HTML.
"use strict";
(function () {
  const PAGE = 50;
  const data = JSON.parse(document.getElementById("themis-data").textContent);
  if (!data.columns) { // a page without a case table (the viewer's run list)
    watch();
    document.body.dataset.ready = "true";
    return;
  }
  const columns = data.columns;
  const rows = data.rows;
  const ordinal = columns.length; // the last cell of a row is the case's ordinal
  const chunkCache = new Map();
  let shown = rows;
  let page = 0;
  let sortColumn = -1;
  let sortDescending = false;
  let haystacks = null;
  let selected = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function asText(value) {
    if (value === null || value === undefined) return "";
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function formatScore(value) {
    if (value === null || value === undefined) return "–";
    return Number.isInteger(value) ? String(value) : value.toFixed(3);
  }

  // -- table --------------------------------------------------------------

  function columnIndex(type) {
    return columns.findIndex((c) => c.type === type);
  }

  function buildHaystacks() {
    const textColumns = columns.map((c, i) => [c.type, i])
      .filter(([type]) => type !== "score").map(([, i]) => i);
    haystacks = rows.map((row) => textColumns.map((i) => row[i]).join("\u0001").toLowerCase());
  }

  function fillSelect(id, type) {
    const select = document.getElementById(id);
    const index = columnIndex(type);
    if (!select) return;
    if (index < 0) { select.hidden = true; return; }
    const values = [...new Set(rows.map((row) => row[index]))].sort();
    if (values.length < 2 && type === "dataset") { select.hidden = true; return; }
    for (const value of values) select.append(el("option", { value: value, text: value }));
  }

  function fillMetricSelect() {
    const select = document.getElementById("metric-filter");
    if (!select) return;
    const scored = columns.map((c, i) => [c, i]).filter(([c]) => c.type === "score");
    if (!scored.length) { select.hidden = true; document.getElementById("score-max").hidden = true; }
    for (const [c, i] of scored) select.append(el("option", { value: String(i), text: c.label }));
  }

  function applyFilters() {
    const started = performance.now();
    const query = document.getElementById("search").value.trim().toLowerCase();
    const status = valueOf("status-filter");
    const dataset = valueOf("dataset-filter");
    const metric = valueOf("metric-filter");
    const maxText = valueOf("score-max");
    const max = maxText === "" ? null : Number(maxText);
    const statusIndex = columnIndex("status");
    const datasetIndex = columnIndex("dataset");
    const metricIndex = metric === "" ? -1 : Number(metric);
    if (query && haystacks === null) buildHaystacks();
    const terms = query ? query.split(/\s+/) : [];
    const kept = [];
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      if (status && row[statusIndex] !== status) continue;
      if (dataset && row[datasetIndex] !== dataset) continue;
      if (metricIndex >= 0) {
        const score = row[metricIndex];
        if (score === null || score === undefined) continue;
        if (max !== null && !(score <= max)) continue;
      }
      if (terms.length) {
        const hay = haystacks[r];
        let all = true;
        for (const term of terms) if (!hay.includes(term)) { all = false; break; }
        if (!all) continue;
      }
      kept.push(row);
    }
    shown = kept;
    sortRows();
    page = 0;
    render();
    const took = performance.now() - started;
    document.getElementById("search-time").textContent =
      `filtered ${rows.length.toLocaleString()} cases in ${took.toFixed(1)} ms`;
  }

  function valueOf(id) {
    const node = document.getElementById(id);
    return node && !node.hidden ? node.value : "";
  }

  function sortRows() {
    if (sortColumn < 0) return;
    const direction = sortDescending ? -1 : 1;
    const numeric = columns[sortColumn].type === "score";
    shown = shown.slice().sort((a, b) => {
      const x = a[sortColumn], y = b[sortColumn];
      if (x === y) return a[ordinal] - b[ordinal];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (numeric) return (x - y) * direction;
      return String(x).localeCompare(String(y)) * direction;
    });
  }

  function renderHead() {
    const head = document.querySelector("#case-table thead");
    const tr = el("tr");
    columns.forEach((column, i) => {
      const arrow = i === sortColumn ? (sortDescending ? " ▼" : " ▲") : "";
      const th = el("th", { text: column.label + arrow, title: "sort by " + column.label,
        className: column.type === "score" ? "num" : "" });
      // Fixed widths for the short columns; text columns share what is left.
      const width = { key: "13%", dataset: "7%", status: "8%", score: "8%" }[column.type];
      if (width) th.style.width = width;
      th.addEventListener("click", () => {
        sortDescending = sortColumn === i ? !sortDescending : false;
        sortColumn = i;
        sortRows();
        page = 0;
        render();
      });
      tr.append(th);
    });
    head.replaceChildren(tr);
  }

  function cell(column, value) {
    if (column.type === "score") {
      const td = el("td", { className: "num", text: formatScore(value) });
      if (value === 0) td.classList.add("score-0");
      if (value === 1) td.classList.add("score-1");
      return td;
    }
    const td = el("td", { text: value === null || value === undefined ? "" : String(value),
      title: value === null || value === undefined ? "" : String(value) });
    if (column.type === "status") td.className = "status-" + value;
    if (column.type === "key") td.className = "key";
    return td;
  }

  function render() {
    renderHead();
    const body = document.querySelector("#case-table tbody");
    const start = page * PAGE;
    const slice = shown.slice(start, start + PAGE);
    const trs = slice.map((row) => {
      const tr = el("tr", { "data-case": row[0] });
      columns.forEach((column, i) => tr.append(cell(column, row[i])));
      if (selected === row[0]) tr.classList.add("selected");
      tr.addEventListener("click", () => openCase(row));
      return tr;
    });
    body.replaceChildren(...trs);
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    document.getElementById("page").textContent = `page ${page + 1} of ${pages.toLocaleString()}`;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = page + 1 >= pages;
    const from = shown.length ? start + 1 : 0;
    const to = Math.min(start + PAGE, shown.length);
    document.getElementById("count").textContent = shown.length === rows.length
      ? `${from}–${to} of ${rows.length.toLocaleString()} cases`
      : `${from}–${to} of ${shown.length.toLocaleString()} matching (of ${rows.length.toLocaleString()})`;
  }

  // -- details ------------------------------------------------------------

  async function chunk(number) {
    if (chunkCache.has(number)) return chunkCache.get(number);
    const node = document.getElementById("themis-chunk-" + number);
    if (!node) throw new Error("this page holds no detail chunk " + number);
    const binary = atob(node.textContent.trim());
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const parsed = JSON.parse(await new Response(stream).text());
    chunkCache.set(number, parsed);
    return parsed;
  }

  async function detailOf(row) {
    const index = row[ordinal];
    const details = await chunk(Math.floor(index / data.chunk_size));
    return details[index % data.chunk_size];
  }

  async function openCase(row) {
    selected = row[0];
    history.replaceState(null, "", "#case=" + encodeURIComponent(row[0]));
    document.querySelectorAll("#case-table tbody tr").forEach((tr) =>
      tr.classList.toggle("selected", tr.dataset.case === selected));
    const panel = document.getElementById("detail");
    const body = document.getElementById("detail-body");
    body.replaceChildren(el("p", { className: "muted", text: "loading " + row[0] + "…" }));
    panel.hidden = false;
    try {
      const detail = await detailOf(row);
      const render = data.kind === "comparison" ? renderComparisonCase : renderCase;
      body.replaceChildren(...render(detail));
    } catch (error) {
      body.replaceChildren(el("p", { className: "error", text: "cannot show this case: " + error }));
    }
    panel.scrollTop = 0;
  }

  function closeCase() {
    document.getElementById("detail").hidden = true;
    selected = null;
    history.replaceState(null, "", location.pathname + location.search);
    render();
  }

  function block(value, className) {
    return el("pre", { className: className || "", text: asText(value) });
  }

  function label(text) {
    return el("div", { className: "label", text: text });
  }

  function section(title, ...children) {
    return [el("h3", { text: title }), ...children];
  }

  function tokens(usage) {
    if (!usage) return "";
    return Object.entries(usage).map(([k, v]) => `${k.replace("_tokens", "")} ${v}`).join(", ");
  }

  function renderScores(scores, errors, compact, unparsed) {
    const head = [el("th", { text: "metric" }), el("th", { text: "score" })];
    if (!compact) head.push(el("th", { text: "details" }));
    const table = el("table", { className: "inner" }, el("thead", {}, el("tr", {}, ...head)));
    const body = el("tbody");
    const flagged = new Set(unparsed || []);
    const scored = new Set();
    for (const score of scores || []) {
      scored.add(score.metric_id);
      const value = formatScore(score.value) + (flagged.has(score.metric_id) ? " (unparsed)" : "");
      body.append(el("tr", {}, el("td", { text: score.metric_id }),
        el("td", { className: "num", text: value }),
        compact ? null : el("td", {}, score.details ? block(score.details) : "")));
    }
    // An answer that did not parse has no score but counts 0 in the mean (issue 21).
    for (const metric of flagged) {
      if (scored.has(metric)) continue;
      body.append(el("tr", { className: "unparsed" }, el("td", { text: metric }),
        el("td", { className: "num", text: "0 (unparsed)" }),
        compact ? null : el("td", { text: "the answer did not parse; it counts 0 in this metric's mean" })));
    }
    for (const error of errors || []) {
      body.append(el("tr", {}, el("td", { text: error.metric_id }),
        el("td", { className: "error", text: "error" }), el("td", { text: error.reason })));
    }
    table.append(body);
    return table;
  }

  function renderJudges(evaluation) {
    const outcome = evaluation.score ? "score " + formatScore(evaluation.score.value)
      : "error: " + (evaluation.score_error ? evaluation.score_error.reason : "?");
    const parts = [el("h3", { text: `judges of ${evaluation.metric_id} (${outcome})` })];
    for (const call of evaluation.calls || []) {
      const facts = [call.call_id];
      if (call.attempts > 1) facts.push(call.attempts + " attempts");
      if (call.token_usage) facts.push("tokens " + tokens(call.token_usage));
      const judge = el("div", { className: "judge" },
        el("strong", { text: call.judge_model_id || "judge" }),
        el("span", { className: "badge", text: facts.join(" · ") }));
      const prompt = el("details", {}, el("summary", { text: "judge prompt" }));
      for (const message of Array.isArray(call.prompt) ? call.prompt : [call.prompt]) {
        if (message && typeof message === "object" && "content" in message) {
          prompt.append(label(message.role), block(message.content));
        } else {
          prompt.append(block(message));
        }
      }
      judge.append(prompt);
      if (call.response_text !== undefined) {
        judge.append(label("verdict (the judge's answer)"), block(call.response_text, "verdict"));
      }
      if (call.judgment !== undefined) judge.append(label("parsed judgment"), block(call.judgment));
      if (call.error) judge.append(el("p", { className: "error", text: "error: " + call.error }));
      parts.push(judge);
    }
    return parts;
  }

  function renderErrors(errors) {
    const parts = [];
    for (const item of errors || []) {
      const e = item.error;
      const attempts = e.attempts || 1;
      parts.push(el("p", { className: "error" },
        el("strong", { text: item.stage }),
        ` ${e.component_id || ""} [${e.category || "component_error"}] ${e.error_type}: ${e.message}`,
        el("span", { className: "badge",
          text: `${attempts} attempt${attempts > 1 ? "s" : ""}${e.retryable ? ", retryable" : ""}` })));
      const earlier = (e.earlier_errors || []).map((text, i) =>
        el("li", { text: `attempt ${i + 1}: ${text}` }));
      for (const failure of item.earlier_failures || []) {
        earlier.push(el("li", { text: `earlier failure in run ${failure.run_id} at ` +
          new Date(failure.at * 1000).toISOString() + `: ${failure.error.error_type}: ${failure.error.message}` }));
      }
      if (earlier.length) parts.push(el("ul", {}, ...earlier));
    }
    return parts;
  }

  function renderCase(d) {
    const out = [el("h2", { text: d.case_key },
      el("span", { className: "badge status-" + d.status, text: d.status }))];
    if (d.cached_stages && d.cached_stages.length) {
      out.push(el("p", { className: "muted", text: "reused from earlier runs: " + d.cached_stages.join(", ") }));
    }
    out.push(...section("Input", block(d.input)));
    if (d.expected_output !== undefined) out.push(label("expected output"), block(d.expected_output));
    if (d.metadata) out.push(label("metadata"), block(d.metadata));
    const prompt = (d.prompt || []).flatMap((m) => [label(m.role), block(m.content)]);
    out.push(...section("Prompt (rendered from the prompt spec)", ...prompt));
    (d.candidates || []).forEach((item) => {
      const c = item.candidate;
      const facts = [`seed ${item.seed}`, `sample ${item.sample_index || 0}`];
      if (c.token_usage) facts.push("tokens " + tokens(c.token_usage));
      if (c.latency_ms !== undefined) facts.push(Math.round(c.latency_ms) + " ms");
      if (item.cached_from) facts.push("reused from " + item.cached_from);
      const parts = [label("output"), block(c.final_output, "output")];
      for (const m of c.conversation || []) parts.push(label("conversation · " + m.role), block(m.content));
      if (c.trace && c.trace.length) {
        const trace = el("table", { className: "inner" }, el("thead", {}, el("tr", {},
          ...["#", "step", "type", "input", "output"].map((h) => el("th", { text: h })))));
        const body = el("tbody");
        c.trace.forEach((step, i) => body.append(el("tr", {}, el("td", { text: i + 1 }),
          el("td", { text: step.step_name }), el("td", { text: step.step_type }),
          el("td", {}, block(step.input)), el("td", {}, block(step.output)))));
        trace.append(body);
        parts.push(label("trace"), trace);
      }
      if (c.artifacts) parts.push(label("artifacts"), block(c.artifacts));
      out.push(...section(`Candidate ${c.candidate_id} (${facts.join("; ")})`, ...parts));
    });
    if (d.reduced) {
      out.push(...section(`Reduced candidate (from ${(d.reduced.source_candidate_ids || []).join(", ")})`,
        block(d.reduced.final_output, "output")));
    }
    for (const parsed of d.parsed || []) {
      out.push(...section(`Parsed value (${parsed.format || "json"})`, block(parsed.value)));
    }
    const unparsed = d.unparsed_metrics || [];
    if ((d.scores && d.scores.length) || (d.score_errors && d.score_errors.length) || unparsed.length) {
      out.push(...section("Scores", renderScores(d.scores, d.score_errors, false, unparsed)));
    }
    for (const evaluation of d.evaluations || []) out.push(...renderJudges(evaluation));
    if (d.errors && d.errors.length) out.push(...section("Errors", ...renderErrors(d.errors)));
    if (d.recovered_failures) {
      out.push(el("p", { className: "muted",
        text: `${d.recovered_failures} earlier failure(s) of this case later succeeded` }));
    }
    return out;
  }

  function renderComparisonCase(d) {
    const out = [el("h2", { text: d.case_key })];
    out.push(...section("Input", block(d.input)));
    if (d.expected_output !== undefined && d.expected_output !== null) {
      out.push(label("expected output"), block(d.expected_output));
    }
    const columns = d.runs.map((run) => {
      const parts = [el("strong", { text: run.label }),
        el("span", { className: "badge status-" + run.status, text: run.status }),
        label("output"), block(run.output, "output")];
      if (run.parsed !== undefined) parts.push(label("parsed value"), block(run.parsed));
      parts.push(label("scores"), renderScores(run.scores, run.score_errors, true, run.unparsed_metrics));
      for (const verdict of run.verdicts || []) {
        parts.push(label(`verdict of ${verdict.judge} for ${verdict.metric_id}`),
          block(verdict.text, "verdict"));
      }
      if (run.errors && run.errors.length) parts.push(...renderErrors(run.errors));
      return el("div", {}, ...parts);
    });
    out.push(el("h3", { text: "Side by side" }), el("div", { className: "side-by-side" }, ...columns));
    return out;
  }

  // -- live refresh (local viewer only) ------------------------------------

  function watch() {
    const url = document.body.dataset.liveUrl;
    if (!url) return;
    const badge = el("div", { className: "live", text: "live: checking for new results every 2 s" });
    document.body.append(badge);
    const poll = async () => {
      try {
        const response = await fetch(url, { cache: "no-store" });
        const version = (await response.json()).version;
        if (version !== document.body.dataset.liveVersion) { location.reload(); return; }
        badge.textContent = "live: up to date " + new Date().toLocaleTimeString();
      } catch (error) {
        badge.textContent = "live: viewer unreachable (" + error + ")";
      }
      // A finished run rarely changes again (a resume or replay): look less often.
      const finished = /^(completed|failed|partial_failure):/.test(document.body.dataset.liveVersion);
      setTimeout(poll, finished ? 10000 : 2000);
    };
    setTimeout(poll, 2000);
  }

  // -- start ----------------------------------------------------------------

  fillSelect("status-filter", "status");
  fillSelect("dataset-filter", "dataset");
  fillMetricSelect();
  let timer = null;
  document.getElementById("search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(applyFilters, 120);
  });
  for (const id of ["status-filter", "dataset-filter", "metric-filter", "score-max"]) {
    const node = document.getElementById(id);
    if (node) node.addEventListener("change", applyFilters);
  }
  document.getElementById("prev").addEventListener("click", () => { page--; render(); });
  document.getElementById("next").addEventListener("click", () => { page++; render(); });
  document.getElementById("close-detail").addEventListener("click", closeCase);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeCase(); });
  render();
  const match = location.hash.match(/^#case=(.+)$/);
  if (match) {
    const key = decodeURIComponent(match[1]);
    const row = rows.find((r) => r[0] === key);
    if (row) openCase(row);
  }
  watch();
  document.body.dataset.ready = "true";
})();
