"""The parts of the pages the other page tests do not read: the trial page's empty states and note, a
finding without evidence, the study page's filter form, the API page, and the exact answers of the
write guard (a read-only server, a missing or wrong token, the scheme in any case); the index with
submitted sweeps not started yet or part done; the study page in full from hand-made records (and as
a report file, without links), an empty one, study-level findings and counts stored without curves.

The API page is checked against a small OpenAPI document written out here and against the
served app's own document (every route and answer schema on the page).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from sweepdoctor.diagnostics import Finding, FindingCode, Severity
from sweepdoctor.service import Limits, ServiceState, render_report
from sweepdoctor.service._html import table
from sweepdoctor.service._plots import param_plots, value_plot
from sweepdoctor.service._render import api_docs_body, findings_list, index_body, study_body, trial_body
from sweepdoctor.service._state import Diagnosis
from sweepdoctor.service._views import StudyView, TrialQuery, TrialView, study_view
from sweepdoctor.studies import (
    Importance,
    StudyDetail,
    StudySummary,
    SubmittedSweep,
    TrialPage,
    TrialRecord,
    ValueBucket,
    ValueSeries,
    ValueStats,
)
from tests.service.conftest import TOKEN, MakeClient
from tests.studies._build import build_all, build_plain, full_study

FINDING = Finding(FindingCode.OVERFITTING, Severity.WARNING, "rules.md#overfitting", "val <rose>", "add <dropout>",
                  {"gap": 0.123456, "epoch": 7}, run="trial-3", confidence=0.876)


def _trial(**attrs: object) -> TrialRecord:
    return TrialRecord(3, 30, "complete", 0.912345, datetime(2024, 1, 1, 0, 0, 0), datetime(2024, 1, 1, 0, 0, 12),
                       {"lr": 0.00123456, "optimizer": "adam"}, dict(attrs))


def test_the_trial_page_in_full() -> None:
    view = TrialView("a<b", _trial(split1_score=0.95, split0_score=0.9), None, (), (FINDING,), note=None)
    html = trial_body(view)
    head = ('<p><a href="/studies/a%3Cb">← a&lt;b</a></p><h1>a&lt;b · trial 3</h1><p>complete · value <b>0.9123</b>'
            " · 12 s</p>")
    params = table(["parameter", "value"], [["lr", "0.001235"], ["optimizer", "adam"]], table_id="params")
    folds = table(["fold", "score"], [["0", "0.9"], ["1", "0.95"]], table_id="folds", numeric=(1,))
    assert html == (f"{head}<h2>Parameters</h2>{params}<h2>Score per fold</h2>{folds}<h2>Curves</h2>"
                    f'<div class="plots"><p>No curves stored.</p></div><h2>Findings</h2>{findings_list((FINDING,))}')


def test_a_trial_page_without_scores_or_findings_says_so_and_keeps_the_note() -> None:
    view = TrialView("s", _trial(), None, (), (), note="the diagnosis <failed>")
    html = trial_body(view)
    assert "<h2>Score per fold</h2><p>No fold scores stored.</p><h2>Curves</h2>" in html
    assert html.endswith('<h2>Findings</h2><p>No findings.</p><p class="muted">the diagnosis &lt;failed&gt;</p>')
    noted = trial_body(TrialView("s", _trial(), None, (), (FINDING,), note="partial"))
    assert noted.endswith(findings_list((FINDING,)) + '<p class="muted">partial</p>')


def test_each_finding_is_one_item_with_its_evidence_or_a_dash() -> None:
    bare = Finding(FindingCode.DIVERGENCE, Severity.ERROR, "rules.md#divergence", "nan", "lower lr")
    html = findings_list((FINDING, bare))
    assert html == (
        '<ul class="findings"><li><span class="sev-warning">overfitting</span> (warning, confidence 0.88, '
        "rules.md#overfitting): val &lt;rose&gt;<br><span class=\"muted\">evidence: gap=0.1235, epoch=7</span>"
        "<br>advice: add &lt;dropout&gt;</li>"
        '<li><span class="sev-error">divergence</span> (error, confidence 1.00, rules.md#divergence): nan'
        '<br><span class="muted">evidence: –</span><br>advice: lower lr</li></ul>')


def test_the_filter_form_shows_the_query_it_was_given(sqlite_url: str, make_client: MakeClient) -> None:
    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    html = c.get("/studies/digits-mlp", params={"where": ["optimizer=adam", "lr>=1e-3"], "sort": "-value"}).text
    form = re.search(r'<form class="filter".*?</form>', html, re.S)
    assert form is not None and form.group(0) == (
        '<form class="filter" method="get" action="/studies/digits-mlp">'
        '<label>where <input name="where" value="optimizer=adam; lr&gt;=1e-3" placeholder="optimizer=adam; '
        'lr>=1e-3"></label> <label>sort <input name="sort" value="-value" placeholder="value, -number, lr" '
        'size="10"></label> <button type="submit">filter</button></form>')
    plain = c.get("/studies/digits-mlp").text
    assert '<input name="where" value="" ' in plain and '<input name="sort" value="" ' in plain


DOC = {
    "info": {"title": "T<", "version": "1.2", "description": "D"},
    "paths": {"/api/x/{name}": {
        "get": {"summary": "S", "description": "Long",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "the name"},
                               {"name": "limit", "in": "query",
                                "schema": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Thing"}}}},
                    "404": {"description": "missing"}, "503": {"description": "down"}}},
        "delete": {"summary": "Del", "responses": {"204": {"description": "Gone"}}}}},
    "components": {"schemas": {
        "Thing": {"required": ["a"], "properties": {"a": {"type": "array", "items": {"type": "number"}},
                                                      "b": {"enum": ["x", "y"], "description": "bee"}, "c": {}}},
        "Empty": {}}},
}


def test_the_api_page_of_a_small_document() -> None:
    params = table(["parameter", "in", "required", "type", "description"],
                   [["name", "path", "yes", "string", "the name"], ["limit", "query", "", "integer | null", ""]])
    get = ('<h3><code>GET /api/x/{name}</code></h3><p>S</p><p class="muted">Long</p>' + params
           + "<p>answers: 200 OK → <code>Thing</code>; 404, 503 → <code>Error</code></p>")
    delete = "<h3><code>DELETE /api/x/{name}</code></h3><p>Del</p><p>answers: 204 Gone</p>"
    fields = table(["field", "type", "required", "description"],
                   [["a", "list of number", "yes", ""], ["b", "x | y", "", "bee"], ["c", "any", "", ""]])
    schemas = f'<h3 id="Thing"><code>Thing</code></h3>{fields}<h3 id="Empty"><code>Empty</code></h3>'
    assert api_docs_body(DOC) == (
        '<h1>T&lt; 1.2</h1><p>D</p><p>The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>'
        f"<h2>Routes</h2>{get}{delete}<h2>Answers</h2>{schemas}")
    assert api_docs_body({}) == ('<h1>API </h1><p></p><p>The machine-readable document: <a href="/openapi.json">'
                                 "/openapi.json</a>.</p><h2>Routes</h2><h2>Answers</h2>")


def test_the_api_page_of_a_document_that_leaves_out_what_is_optional() -> None:
    """OpenAPI leaves out a parameter's schema, an operation's summary and answers, an answer's description,
    an array's items and a schema's required list when there are none: the page shows them as empty. A
    ``$ref`` to another document (no JSON pointer in it) is named as it is written."""
    doc = {"paths": {"/p": {"post": {"parameters": [{"name": "q", "in": "query"}], "responses": {"200": {}}},
                            "put": {}}},
           "components": {"schemas": {"S": {"properties": {"l": {"type": "array"}, "r": {"$ref": "other.json"}}}}}}
    params = table(["parameter", "in", "required", "type", "description"], [["q", "query", "", "any", ""]])
    fields = table(["field", "type", "required", "description"], [["l", "list of any", "", ""],
                                                                   ["r", "other.json", "", ""]])
    assert api_docs_body(doc) == (
        '<h1>API </h1><p></p><p>The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>'
        f"<h2>Routes</h2><h3><code>POST /p</code></h3><p></p>{params}<p>answers: 200 </p>"
        "<h3><code>PUT /p</code></h3><p></p><p>answers: </p>"
        f'<h2>Answers</h2><h3 id="S"><code>S</code></h3>{fields}')


def test_the_api_page_lists_every_route_and_answer_of_the_app(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    doc = c.get("/openapi.json").json()
    html = c.get("/docs").text
    for path, item in doc["paths"].items():
        for method in item:
            assert f"<h3><code>{method.upper()} {path}</code></h3>" in html
    for name in doc["components"]["schemas"]:
        assert f'<h3 id="{name}"><code>{name}</code></h3>' in html


# ---- the write guard -------------------------------------------------------------------------------

READ_ONLY = "this server is read-only; start it with --token or $SWEEPDOCTOR_TOKEN to allow writes"
NEEDS = "a write needs the header 'Authorization: Bearer <token>' with the server's token"


def test_the_write_guard_answers_in_full(sqlite_url: str, make_client: MakeClient) -> None:
    """A write to a study that does not exist: 404 once the guard lets it through, else 401 or 403."""
    build_plain(sqlite_url)
    ro = make_client(sqlite_url, token=None)
    r = ro.delete("/api/studies/nosuch", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (r.status_code, r.json()) == (403, {"error": READ_ONLY})
    rw = make_client(sqlite_url)
    for header in (None, "", "Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"{TOKEN}", f"Bearer{TOKEN}"):
        r = rw.delete("/api/studies/nosuch", headers={} if header is None else {"Authorization": header})
        assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (401, {"error": NEEDS}, "Bearer"), header
    for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer  {TOKEN} "):
        assert rw.delete("/api/studies/nosuch", headers={"Authorization": header}).status_code == 404, header


def _section(html: str, start: str, end: str) -> str:
    return html.split(start, 1)[1].split(end, 1)[0]


def test_the_study_pages_findings_say_what_the_diagnosis_api_says(sqlite_url: str, make_client: MakeClient) -> None:
    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    d = c.get("/api/studies/digits-mlp/diagnosis").json()
    html = _section(c.get("/studies/digits-mlp").text, "<h2>Findings</h2>", "<h2>")
    counts = table(["finding", "trials: as main finding", "trials: in all"],
                   [[code, str(d["main_counts"].get(code, 0)), str(n)] for code, n in d["counts"].items()],
                   table_id="findings", numeric=(1, 2))
    regions = table(["finding", "region", "trials"],
                    [[p["code"], p["summary"].replace("<", "&lt;"), f"{p['n_code']}/{p['n_region']}"]
                     for p in d["patterns"]], table_id="regions")
    assert d["patterns"] and d["note"] is None
    assert html == f"{counts}<h3>Where in the space</h3>{regions}"


def test_a_study_without_curves_says_why_it_has_no_findings(sqlite_url: str, make_client: MakeClient) -> None:
    build_plain(sqlite_url)
    c = make_client(sqlite_url)
    note = c.get("/api/studies/plain/diagnosis").json()["note"]
    html = _section(c.get("/studies/plain").text, "<h2>Findings</h2>", "<h2>")
    assert note and html == f'<p>No findings.</p><p class="muted">{note}</p>'


def test_the_study_pages_pager_best_trial_and_trials_table(sqlite_url: str, make_client: MakeClient) -> None:
    """Seven trials, three a page, sorted by number: the middle page links both ways, the first and the
    last one way; the best trial and each row say what the API says."""
    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    query: dict[str, str | int] = {"limit": 3, "sort": "number"}
    middle = c.get("/studies/digits-mlp", params={**query, "offset": 2}).text
    link = '<a href="?where=&amp;sort=number&amp;limit=3&amp;offset={}">{}</a>'
    assert (f'<p class="muted">trials 3–5 of 7 matching {link.format(0, "previous")} {link.format(5, "next")}</p>'
            in middle)
    first = c.get("/studies/digits-mlp", params=query).text
    assert f'<p class="muted">trials 1–3 of 7 matching {link.format(3, "next")}</p>' in first
    last = c.get("/studies/digits-mlp", params={**query, "offset": 6}).text
    assert f'<p class="muted">trials 7–7 of 7 matching {link.format(3, "previous")}</p>' in last
    filtered = c.get("/studies/digits-mlp", params={"where": "optimizer=sgd", "limit": 1}).text
    assert '<a href="?where=optimizer%3Dsgd&amp;sort=&amp;limit=1&amp;offset=1">next</a>' in filtered

    detail = c.get("/api/studies/digits-mlp").json()
    complete = detail["summary"]["states"]["complete"]
    assert (f'<h2>Value against each hyper-parameter</h2><p class="muted">all {complete} complete trials</p>'
            in middle)
    best = detail["best"]
    shown = re.search(r"<p>Best: (.*?)</p>", middle)
    assert shown is not None
    head, _, params = shown.group(1).partition(" — ")
    assert head == (f'trial <a href="/studies/digits-mlp/trials/{best["number"]}">{best["number"]}</a>, value '
                    f'<b>{best["value"]:.4g}</b>')
    assert sorted(params.split(", ")) == sorted(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in best["params"].items())

    api = c.get("/api/studies/digits-mlp/trials", params={**query, "offset": 2}).json()["trials"]
    rows = re.findall(r"<tr>(.*?)</tr>", _section(middle, '<table id="trials">', "</table>"), re.S)
    names = sorted({k for t in api for k in t["params"]})
    assert re.findall(r"<th>(.*?)</th>", rows[0]) == ["#", "state", "value", *names, "findings"]
    for row, t in zip(rows[1:], api, strict=True):
        cells = re.findall(r"<td(?: [^>]*)?>(.*?)</td>", row)
        assert cells[0] == f'<a href="/studies/digits-mlp/trials/{t["number"]}">{t["number"]}</a>'
        assert cells[1:3] == [t["state"], f'{t["value"]:.4g}']
        assert cells[3:-1] == [f"{t['params'][k]:.4g}" if isinstance(t["params"][k], float) else str(t["params"][k])
                               for k in names]
        assert cells[-1] not in ("", "–")  # each trial of this study has a diagnosis


def test_the_index_says_what_the_studies_api_says(sqlite_url: str, make_client: MakeClient) -> None:
    build_all(sqlite_url)
    c = make_client(sqlite_url)
    studies = c.get("/api/studies").json()
    html = c.get("/").text
    assert f'<h1>Studies</h1><p class="muted">{len(studies)} studies in <code>{sqlite_url}</code></p>' in html
    rows = re.findall(r"<tr>(.*?)</tr>", _section(html, '<table id="studies">', "</table>"), re.S)
    assert re.findall(r"<th>(.*?)</th>", rows[0]) == ["study", "progress", "trials", "best", "direction",
                                                      "last activity", "sweep"]
    for row, s in zip(rows[1:], studies, strict=True):
        cells = re.findall(r"<td(?: [^>]*)?>(.*?)</td>", row, re.S)
        states, n = s["states"], s["n_trials"]
        finished = sum(states.get(k, 0) for k in ("complete", "pruned", "fail"))
        assert cells[1] == (f'<span class="bar" title="{finished} of {n}"><span style="width:'
                            f'{round(100 * finished / n)}%"></span></span> {finished}/{n}')
        assert cells[2] == ", ".join(f"{v} {k}" for k, v in sorted(states.items()) if v)
        assert cells[3:5] == [f"{s['best_value']:.4g}", s["direction"]] and cells[6] == "–"


def test_an_index_of_one_study_says_study(sqlite_url: str, make_client: MakeClient) -> None:
    build_plain(sqlite_url)
    html = make_client(sqlite_url).get("/").text
    assert f'<p class="muted">1 study in <code>{sqlite_url}</code></p>' in html


def test_the_study_pages_head(sqlite_url: str, make_client: MakeClient) -> None:
    """Back link, name, task, what the value is, last activity, progress, then the trial filter box."""
    from sweepdoctor.service._html import fmt
    from sweepdoctor.service._plots import value_label

    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    s = c.get("/api/studies/digits-mlp").json()["summary"]
    html = c.get("/studies/digits-mlp").text
    last = fmt(datetime.fromisoformat(s["last_activity"]))
    assert (f'<p><a href="/">← all studies</a></p><h1>digits-mlp</h1><p class="muted">{s["task"]} · '
            f'{value_label(s["metric"], s["directions"][0])} · last activity {last}</p><p>') in html
    assert '<p><input data-filter="trials" placeholder="type to hide rows without this text"></p>' in html


# ---- the index: submitted sweeps, progress, empty states ---------------------------------------------

T0 = datetime(2024, 1, 2, 3, 4, 5)
SHOWN_T0 = "2024-01-02 03:04:05"


def _sweep(name: str, state: str, trials: int) -> SubmittedSweep:
    return SubmittedSweep(name, state, trials, "{}", None, None, None, T0, T0)


def _bar_html(done: int, total: int, pct: int) -> str:
    return f'<span class="bar" title="{done} of {total}"><span style="width:{pct}%"></span></span> {done}/{total}'


def test_the_index_counts_finished_trials_against_the_submitted_sweep_and_lists_sweeps_not_started() -> None:
    """A running sweep of 20 trials with 5 finished (complete, pruned, fail; running ones are not) is
    at 25%; two submitted sweeps no agent has opened are rows of their own, counted in the line above."""
    states = {"running": 2, "complete": 3, "fail": 1, "pruned": 1, "waiting": 0}
    studies = [StudySummary(1, "a<1>", ("maximize",), states, 0.5, T0),
               StudySummary(2, "bare", (), {}, None, None)]
    sweeps = {"a<1>": _sweep("a<1>", "running", 20), "b&": _sweep("b&", "queued", 4), "c": _sweep("c", "failed", 3)}
    rows = [['<a href="/studies/a%3C1%3E">a&lt;1&gt;</a>', _bar_html(5, 20, 25),
             "3 complete, 1 fail, 1 pruned, 2 running", "0.5", "maximize", SHOWN_T0, "running"],
            ['<a href="/studies/bare">bare</a>', _bar_html(0, 0, 0), "–", "–", "–", "–", "–"],
            ["b&amp;", _bar_html(0, 4, 0), "–", "–", "–", SHOWN_T0, "queued"],
            ["c", _bar_html(0, 3, 0), "–", "–", "–", SHOWN_T0, "failed"]]
    body = table(["study", "progress", "trials", "best", "direction", "last activity", "sweep"], rows,
                 table_id="studies", numeric=(3,))
    assert index_body(studies, sweeps, url="sqlite:///x<y>.db") == (
        '<h1>Studies</h1><p class="muted">2 studies and 2 submitted sweeps not started yet in '
        f"<code>sqlite:///x&lt;y&gt;.db</code></p>{body}")


def test_the_index_of_one_sweep_not_started_and_of_nothing() -> None:
    one = index_body([], {"q": _sweep("q", "queued", 2)}, url="u")
    assert one.startswith('<h1>Studies</h1><p class="muted">0 studies and 1 submitted sweep not started yet in '
                          "<code>u</code></p>")
    assert index_body([], {}, url="sqlite:///<none>") == (
        "<h1>Studies</h1><p>No studies in <code>sqlite:///&lt;none&gt;</code> yet.</p>")


def test_the_progress_bar_rounds_and_stops_at_full() -> None:
    """2 of 3 finished is 67% (rounded, not cut), 3 of 5 is 60%, 1 of 1 is 100%; more finished trials than
    the sweep asked for stay at 100%."""
    done = {"r": (2, 3), "five": (3, 5), "one": (1, 1), "over": (3, 2)}
    studies = [StudySummary(i, name, ("minimize",), {"complete": n, "running": 1}, 0.1, T0)
               for i, (name, (n, _)) in enumerate(done.items())]
    sweeps = {name: _sweep(name, "done", total) for name, (_, total) in done.items()}
    html = index_body(studies, sweeps, url="u")
    assert [_bar_html(2, 3, 67), _bar_html(3, 5, 60), _bar_html(1, 1, 100), _bar_html(3, 2, 100)] == re.findall(
        r'<span class="bar".*?</span></span> \d+/\d+', html)
    assert html.startswith('<h1>Studies</h1><p class="muted">4 studies in <code>u</code></p>')


# ---- the study page and the report file, from hand-made records ----------------------------------------

FILTER_BOX = '<p><input data-filter="trials" placeholder="type to hide rows without this text"></p>'


def _rec(number: int, value: float | None, params: dict[str, object], *, state: str = "complete",
         findings: tuple[str, ...] = ()) -> TrialRecord:
    return TrialRecord(number, 100 + number, state, value, T0, T0 + timedelta(seconds=5), params, {}, findings)


# The latest complete trials: lr varies, batch and opt never do; trial 3 has no value (left out).
SCATTER = (_rec(4, 0.4, {"batch": 32, "lr": 0.1, "opt": "adam"}), _rec(3, None, {"batch": 64, "lr": 0.5}),
           _rec(1, 0.25, {"batch": 32, "lr": 0.01, "opt": "adam"}))
PAGE = (_rec(1, 0.25, {"batch": 32, "lr": 0.01}, findings=("overfitting", "divergence")),
        _rec(2, None, {"batch": 32}, state="running"),
        _rec(4, 0.4, {"batch": 32, "lr": 0.1, "x<": "a&b"}))


def _made_view() -> StudyView:
    """Study ``s&1`` (no direction stored: minimized; no task): a running sweep of 4 trials, 2 finished;
    3 of 9 matching trials from the second on; findings only as stored counts, with a note."""
    summary = StudySummary(7, "s&1", (), {"complete": 2, "running": 1}, 0.25, T0, metric="loss")
    detail = StudyDetail(summary, {}, PAGE[0], ValueStats(2, 0.25, 0.325, 0.4), (), Importance(None), None)
    series = ValueSeries("s&1", "minimize", 1200, 1, (ValueBucket(1, 1, 1, 0.25, 0.25), ValueBucket(4, 4, 1, 0.4, 0.4)),
                         ((1, 0.25),))
    query = TrialQuery(where=("lr>0", "batch<64"), sort="value", limit=3, offset=1)
    return StudyView(detail, _sweep("s&1", "running", 4), query, TrialPage("s&1", PAGE, matched=9),
                     TrialPage("s&1", SCATTER, matched=3),
                     Diagnosis(None, {"overfitting": 2, "<div>": 1}, "no curves <yet>"), series)


def _made_parts(view: StudyView, *, links: bool) -> tuple[str, str]:
    """The expected page of ``_made_view`` up to its trials' heading, and from there up to the table."""
    best = '<a href="/studies/s%261/trials/1">1</a>' if links else "1"
    head = ('<h1>s&amp;1</h1><p class="muted">loss (minimize) · last activity 2024-01-02 03:04:05 · sweep running</p>'
            f"<p>{_bar_html(2, 4, 50)} — 2 complete, 1 running</p><p>Best: trial {best}, value <b>0.25</b> — "
            "batch=32, lr=0.01</p>")
    findings = ("<h2>Findings</h2>" + table(["finding", "trials: in all (main finding or not)"],
                                            [["overfitting", "2"], ["&lt;div&gt;", "1"]], table_id="findings",
                                            numeric=(1,)) + '<p class="muted">no curves &lt;yet&gt;</p>')
    plots = (f'<h2>Progress</h2>{value_plot(view.series, metric="loss")}<h2>Value against each hyper-parameter</h2>'
             '<p class="muted">the latest 2 of 1,200 complete trials; fixed (not plotted): batch=32, opt=adam</p>'
             f'<div class="plots">{param_plots(SCATTER, metric="loss", direction="minimize")}</div>')
    form = ('<form class="filter" method="get" action="/studies/s%261"><label>where <input name="where" '
            'value="lr&gt;0; batch&lt;64" placeholder="optimizer=adam; lr>=1e-3"></label> <label>sort <input '
            'name="sort" value="value" placeholder="value, -number, lr" size="10"></label> <button type="submit">'
            "filter</button></form>") if links else ""
    link = '<a href="?where=lr%3E0%3B+batch%3C64&amp;sort=value&amp;limit=3&amp;offset={}">{}</a>'
    pager = f'<p class="muted">trials 2–4 of 9 matching {link.format(0, "previous")} {link.format(4, "next")}</p>'
    if not links:  # a report file: no pages to link to, but where every trial is
        pager = ('<p class="muted">trials 2–4 of 9 matching (every trial: sweepdoctor studies export '
                 '&#x27;s&amp;1&#x27; --format csv)</p>')
    return head + findings + plots, f"<h2>Trials</h2>{form}{FILTER_BOX}{pager}"


def _made_rows(*, links: bool) -> list[list[str]]:
    def num(n: int) -> str:
        return f'<a href="/studies/s%261/trials/{n}">{n}</a>' if links else str(n)

    return [[num(1), "complete", "0.25", "32", "0.01", "–", "overfitting, divergence"],
            [num(2), "running", "–", "32", "–", "–", "–"],
            [num(4), "complete", "0.4", "32", "0.1", "a&amp;b", "–"]]


def test_the_study_page_in_full() -> None:
    view = _made_view()
    top, trials = _made_parts(view, links=True)
    rows = table(["#", "state", "value", "batch", "lr", "x<", "findings"], _made_rows(links=True), table_id="trials",
                 numeric=(2,))
    assert study_body(view) == f'<p><a href="/">← all studies</a></p>{top}{trials}{rows}'


def test_the_study_page_as_a_report_file_has_no_links_back_to_a_server() -> None:
    """The same page without the back link, the filter form and the links of the trial numbers."""
    view = _made_view()
    top, trials = _made_parts(view, links=False)
    rows = table(["#", "state", "value", "batch", "lr", "x<", "findings"], _made_rows(links=False), table_id="trials",
                 numeric=(2,))
    html = study_body(view, links=False)
    assert html == f"{top}{trials}{rows}"
    assert "href=" not in html and "<form" not in html
    whole = replace(view, page=replace(view.page, matched=4))  # trials 2-4 of 4: nothing more to point to
    assert '<p class="muted">trials 2–4 of 4 matching</p>' in study_body(whole, links=False)


def test_a_fixed_parameter_gets_no_plot_of_its_own() -> None:
    html = study_body(_made_view())
    figures = re.findall(r'<script type="application/json" id="plot-param-(\d+)-fig">(.*?)</script>', html)
    assert [(i, '"name":"lr"' in fig, '"name":"batch"' in fig or '"name":"opt"' in fig) for i, fig in figures] == [
        ("0", True, False)]


def test_an_empty_study_page_says_what_is_missing() -> None:
    """No trial, no finding, no submitted sweep: a maximized regression study just created."""
    summary = StudySummary(8, "e", ("maximize",), {}, None, None, task="regression", metric="r2")
    detail = StudyDetail(summary, {}, None, ValueStats(0, None, None, None), (), Importance(None), None)
    series = ValueSeries("e", "maximize", 0, 1, (), ())
    view = StudyView(detail, None, TrialQuery(), TrialPage("e", (), 0), TrialPage("e", (), 0),
                     Diagnosis(None, {}), series)
    assert study_body(view, links=False) == (
        f'<h1>e</h1><p class="muted">regression · r2 (maximize) · last activity –</p><p>{_bar_html(0, 0, 0)} — –</p>'
        "<p>No complete trial yet.</p><h2>Findings</h2><p>No findings.</p>"
        f'<h2>Progress</h2>{value_plot(series, metric="r2")}<h2>Value against each hyper-parameter</h2>'
        '<p class="muted">all 0 complete trials; no parameter takes more than one value</p><div class="plots"></div>'
        f'<h2>Trials</h2>{FILTER_BOX}<p class="muted">trials 0–0 of 0 matching</p>'
        + table(["#", "state", "value", "findings"], [], table_id="trials", numeric=(2,)))


# ---- the study page of a real study: study-level findings, live codes, stored counts, the report file ------


def _state(url: str, **kw: int) -> ServiceState:
    return ServiceState(url, token=None, limits=Limits(), **kw)


def test_study_level_findings_and_each_trials_live_findings_are_shown(sqlite_url: str) -> None:
    """The live diagnosis's finding codes of each trial (sorted, once each), not the stored ones; a trial
    the diagnosis has no run for keeps its stored codes; findings about the whole study get a list."""
    full_study(sqlite_url, "digits-mlp")
    state = _state(sqlite_url)
    try:
        view = study_view(state, "digits-mlp", TrialQuery(sort="number"))
    finally:
        state.close()
    report = view.diagnosis.report
    assert report is not None and not report.study_findings and report.patterns
    # trial 6 (diverged) also overfits, as its second finding: a count of 1 trial, as main finding 0
    runs = tuple(replace(r, findings=(*r.findings, FINDING)) if r.run.name == "trial-6" else r for r in report.runs)
    report = replace(report, runs=runs, study_findings=(FINDING,))
    assert report.counts()["overfitting"] == 1 and "overfitting" not in report.main_counts()
    trials = (*(replace(t, findings=()) for t in view.page.trials), _rec(99, 0.5, {}, findings=("stored",)))
    view = replace(view, page=replace(view.page, trials=trials), diagnosis=replace(view.diagnosis, report=report))
    html = study_body(view)
    counts = table(["finding", "trials: as main finding", "trials: in all"],
                   [[code, str(report.main_counts().get(code, 0)), str(n)] for code, n in report.counts().items()],
                   table_id="findings", numeric=(1, 2))
    regions = table(["finding", "region", "trials"],
                    [[p.code.value, p.summary.replace("<", "&lt;"), f"{p.n_code}/{p.n_region}"]
                     for p in report.patterns], table_id="regions")
    assert _section(html, "<h2>Findings</h2>", "<h2>") == (
        f"{counts}<h3>Where in the space</h3>{regions}<h3>About the whole study</h3>{findings_list((FINDING,))}")
    rows = re.findall(r"<tr>(.*?)</tr>", _section(html, '<table id="trials">', "</table>"), re.S)[1:]
    shown = [re.findall(r"<td(?: [^>]*)?>(.*?)</td>", row)[-1] for row in rows]
    live = [", ".join(sorted({f.code.value for f in report.for_run(f"trial-{t.number}")})) or "–"
            for t in trials[:-1]]
    assert shown == [*live, "stored"] and "divergence, overfitting" in live


def test_a_report_file_of_a_study_too_large_to_diagnose_live(sqlite_url: str) -> None:
    """Over the live limit, the page shows the stored counts (trials with each finding, main or not; the
    stored study-level finding is no trial's), says why, and each trial's stored codes; as a report
    file, no link points back to a server."""
    full_study(sqlite_url, "digits-mlp")
    state = _state(sqlite_url, live_diagnosis_runs=1)
    try:
        view = study_view(state, "digits-mlp", TrialQuery(sort="value", limit=1000))
        report_file = render_report(state, "digits-mlp")
    finally:
        state.close()
    assert view.diagnosis.report is None and view.diagnosis.note
    html = study_body(view, links=False)
    assert html in report_file
    stored = table(["finding", "trials: in all (main finding or not)"],
                   [["overfitting", "2"], ["divergence", "1"]], table_id="findings", numeric=(1,))
    assert _section(html, "<h2>Findings</h2>", "<h2>") == f'{stored}<p class="muted">{view.diagnosis.note}</p>'
    rows = re.findall(r"<tr>(.*?)</tr>", _section(html, '<table id="trials">', "</table>"), re.S)[1:]
    cells = [re.findall(r"<td(?: [^>]*)?>(.*?)</td>", row) for row in rows]
    assert [(c[0], c[-1]) for c in cells] == [("1", "overfitting"), ("0", "–"), ("4", "overfitting"), ("2", "–"),
                                              ("3", "–"), ("5", "–"), ("6", "divergence")]
    assert "href=" not in html and "<form" not in html and html.startswith("<h1>digits-mlp</h1>")
