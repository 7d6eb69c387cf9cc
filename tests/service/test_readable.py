"""Pages a person can read: counts that agree with the rows, fixed parameters unplotted, tables that
scroll in their box, and ``/docs`` that needs nothing from the internet."""

from __future__ import annotations

import re

import optuna

from sweepdoctor.service._html import PLOTLY_URL
from tests.service.conftest import AUTH, MakeClient


def _one_study(url: str) -> None:
    study = optuna.create_study(study_name="fixed", storage=url)
    study.set_user_attr("metric", "accuracy")  # minimized here: not labelled accuracy
    for i in range(6):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("batch_size", [64])
        study.tell(trial, 1.0 / (i + 1))


def test_the_count_above_the_studies_agrees_with_the_rows(sqlite_url: str, make_client: MakeClient) -> None:
    _one_study(sqlite_url)
    c = make_client(sqlite_url)
    sweep = {"data": {"dataset": "iris"}, "train": {"folds": 2, "epochs": 2, "baselines": False},
             "study": {"name": "queued-sweep", "trials": 4, "pruner": "none"}}
    assert c.post("/api/sweeps", json=sweep, headers=AUTH).status_code == 201
    html = c.get("/").text
    rows = re.findall(r"<tr>", html.split("<tbody>", 1)[1])
    assert len(rows) == 2
    assert "1 study and 1 submitted sweep not started yet" in html


def test_fixed_parameters_are_listed_not_plotted(sqlite_url: str, make_client: MakeClient) -> None:
    _one_study(sqlite_url)
    html = make_client(sqlite_url, token=None).get("/studies/fixed").text
    assert html.count('class="plot"') == 1  # lr only; batch_size is fixed
    assert "all 6 complete trials; fixed (not plotted): batch_size=64" in html
    assert "value (minimize)" in html and "accuracy (minimize)" not in html
    assert '<div class="scroll"><table id="trials">' in html  # the table scrolls in its box


def test_docs_work_offline(sqlite_url: str, make_client: MakeClient) -> None:
    _one_study(sqlite_url)
    c = make_client(sqlite_url, token=None)
    r = c.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script src=" not in r.text.replace(f'<script src="{PLOTLY_URL}">', "")
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", r.text)
    assert "GET /api/studies/{name}/trials" in r.text and "TrialsPage" in r.text and "next_after" in r.text
    assert c.get("/redoc").status_code == 404
    schemas = c.get("/openapi.json").json()["components"]["schemas"]
    assert {"StudyLine", "TrialLine", "TrialsPage", "Error"} <= set(schemas)
