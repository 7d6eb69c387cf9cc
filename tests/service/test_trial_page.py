"""The trial page says what the API says about the trial: head, parameters, fold scores, findings.

Mutation testing found the page's text unchecked (only its plots were): each part is read
back here against ``/api/studies/{name}/trials/{n}``.
"""

from __future__ import annotations

import re

from sweepdoctor.service._html import fmt
from tests.service.conftest import MakeClient
from tests.studies._build import full_study


def _table(html: str, table_id: str) -> list[list[str]]:
    m = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert m is not None, f"no table {table_id}"
    head = re.findall(r"<th>(.*?)</th>", m.group(1), re.S)
    rows = [re.findall(r"<td(?: [^>]*)?>(.*?)</td>", r, re.S) for r in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S)]
    return [head, *[r for r in rows if r]]


def test_the_trial_page_shows_the_trial(sqlite_url: str, make_client: MakeClient) -> None:
    full_study(sqlite_url, "digits-mlp")
    c = make_client(sqlite_url)
    trial = c.get("/api/studies/digits-mlp/trials/1").json()
    html = c.get("/studies/digits-mlp/trials/1").text
    assert '<a href="/studies/digits-mlp">← digits-mlp</a>' in html
    assert "<h1>digits-mlp · trial 1</h1>" in html
    assert f"<p>{trial['state']} · value <b>{fmt(trial['value'])}</b> · {fmt(trial['duration_s'])} s</p>" in html
    params = _table(html, "params")
    assert params[0] == ["parameter", "value"]
    assert params[1:] == [[k, fmt(v)] for k, v in trial["params"].items()]
    folds = _table(html, "folds")
    assert folds[0] == ["fold", "score"]
    assert folds[1:] == [[str(i), fmt(v)] for i, v in enumerate(trial["fold_scores"])]
    items = re.findall(r"<li>(.*?)</li>", html.split('<ul class="findings">', 1)[1].split("</ul>", 1)[0], re.S)
    assert len(items) == len(trial["findings"]) >= 1
    for item, f in zip(items, trial["findings"]):
        assert item.startswith(f'<span class="sev-{f["severity"]}">{f["code"]}</span> ({f["severity"]}, '
                               f"confidence {f['confidence']:.2f}, {f['rule']}): {f['summary']}")
        evidence = ", ".join(f"{k}={fmt(v)}" for k, v in f["evidence"].items())
        assert f'<br><span class="muted">evidence: {evidence}</span>' in item
        assert item.endswith(f"<br>advice: {f['advice']}")
