"""The web pages and the report file, in process (the browser test draws them for real)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from sweepdoctor.cli import main
from sweepdoctor.service._html import PLOTLY_TRACES, PLOTLY_URL
from tests.service.conftest import AUTH, XSS, MakeClient
from tests.studies._build import full_study


def _rows(html: str, table_id: str) -> list[str]:
    m = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert m is not None, f"no table {table_id}"
    return re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)


def _first_cell(row: str) -> str:
    m = re.search(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert m is not None
    return m.group(1)


def test_index_study_and_trial_pages(sqlite_url: str, make_client: MakeClient) -> None:
    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    index = c.get("/").text
    assert 'href="/studies/digits-mlp"' in index and "http-equiv=\"refresh\"" not in index
    page = c.get("/studies/digits-mlp")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert len(_rows(html, "trials")) == 7
    diagnosis = c.get("/api/studies/digits-mlp/diagnosis").json()
    listed = {_first_cell(r) for r in _rows(html, "findings")}
    assert listed == set(diagnosis.get("counts") or diagnosis["stored_counts"]) and listed
    assert 'id="plot-values"' in html and 'id="plot-param-0"' in html and f'<script src="{PLOTLY_URL}">' in html
    narrowed = c.get("/studies/digits-mlp", params={"where": "optimizer=adam; lr>=1e-3", "sort": "value"}).text
    assert len(_rows(narrowed, "trials")) == 2
    trial = c.get("/studies/digits-mlp/trials/1").text
    assert 'id="plot-loss"' in trial and 'id="plot-grad"' in trial and "linear (validation)" in trial
    bad = c.get("/studies/digits-mlp", params={"where": "nosuch=1"})
    assert bad.status_code == 400 and "nosuch" in bad.json()["error"]
    js = c.get(PLOTLY_URL)
    assert js.status_code == 200 and "plotly.js (basic - minified) v4.1.1" in js.text[:300]
    assert "immutable" in js.headers["cache-control"]


def test_names_are_escaped(sqlite_url: str, make_client: MakeClient) -> None:
    full_study(sqlite_url, XSS)
    c = make_client(sqlite_url)
    for path in ("/", "/studies/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                 "/studies/%3Cscript%3Ealert(1)%3C%2Fscript%3E/trials/1"):
        r = c.get(path)
        assert r.status_code == 200, path
        assert XSS not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_page_of_a_running_sweep_refreshes(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    sweep = {"study": {"name": "queued-one", "trials": 2}, "data": {"dataset": "iris"}}
    assert c.post("/api/sweeps", json=sweep, headers=AUTH).status_code == 201
    index = c.get("/").text
    assert 'http-equiv="refresh"' in index and "queued-one" in index and "0/2" in index


def test_report_is_one_self_contained_file(sqlite_url: str, tmp_path: Path) -> None:
    full_study(sqlite_url, "digits-mlp")
    out = tmp_path / "report.html"
    r = CliRunner().invoke(main, ["report", "--study", "digits-mlp", "--storage", sqlite_url, "--html", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "plotly.js (basic - minified) v4.1.1" in html and "<script src=" not in html  # the bundle is inline
    assert len(html.encode()) < 2 * 2**20  # the basic bundle: the full one alone is 4.6 MiB
    markup = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # the page, without plotly's own source
    assert not re.search(r'(src|href)="(https?:)?//', markup)  # nothing fetched from elsewhere
    assert len(_rows(html, "trials")) == 7 and 'href="/studies' not in html
    r = CliRunner().invoke(main, ["report", "--study", "nope", "--storage", sqlite_url, "--html", str(out)])
    assert r.exit_code == 2 and "no study named 'nope'" in r.output


def _figures(html: str) -> dict[str, dict]:
    return {m.group(1): json.loads(m.group(2)) for m in
            re.finditer(r'<script type="application/json" id="([^"]+)-fig">(.*?)</script>', html, re.S)}


def test_every_trace_is_one_the_shipped_bundle_draws(sqlite_url: str, make_client: MakeClient) -> None:
    """plotly.js's basic bundle draws scatter, bar and pie only: a trace of another type would leave
    its plot blank, so every figure of the study page, a trial's page and the report is checked."""
    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    pages = [c.get("/studies/digits-mlp").text, c.get("/studies/digits-mlp/trials/1").text,
             c.get("/studies/digits-mlp/trials/5").text]
    figures = {f"{i}/{k}": v for i, page in enumerate(pages) for k, v in _figures(page).items()}
    assert {"0/plot-values", "0/plot-param-0", "1/plot-loss", "1/plot-grad", "1/plot-lr"} <= set(figures)
    types = {trace.get("type", "scatter") for fig in figures.values() for trace in fig["data"]}
    assert types and types <= PLOTLY_TRACES, types
