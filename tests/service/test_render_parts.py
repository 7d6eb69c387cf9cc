"""The parts of the pages the other page tests do not read: the trial page's empty states and note, a
finding without evidence, the study page's filter form, the API page, and the exact answers of the
write guard (a read-only server, a missing or wrong token, the scheme in any case).

The API page is checked against a small OpenAPI document written out here and against the
served app's own document (every route and answer schema on the page).
"""

from __future__ import annotations

import re
from datetime import datetime

from sweepdoctor.diagnostics import Finding, FindingCode, Severity
from sweepdoctor.service._html import table
from sweepdoctor.service._render import api_docs_body, findings_list, trial_body
from sweepdoctor.service._views import TrialView
from sweepdoctor.studies import TrialRecord
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
    an array's items and a schema's required list when there are none: the page shows them as empty."""
    doc = {"paths": {"/p": {"post": {"parameters": [{"name": "q", "in": "query"}], "responses": {"200": {}}},
                            "put": {}}},
           "components": {"schemas": {"S": {"properties": {"l": {"type": "array"}}}}}}
    params = table(["parameter", "in", "required", "type", "description"], [["q", "query", "", "any", ""]])
    fields = table(["field", "type", "required", "description"], [["l", "list of any", "", ""]])
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
