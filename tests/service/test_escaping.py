"""Names a client or a user's own loop may choose are escaped on the index page.

Submission refuses names with '/' or control characters (so ``<script>...</script>``
never reaches the page that way), but not ``<img src=x onerror=alert(1)>`` or
``a&b"'<i>``: a submitted sweep that no agent has started yet is listed under its name,
and a study a user's own Optuna loop recorded is listed under whatever name it has.
"""

from __future__ import annotations

import html

import optuna

import sweepdoctor
from tests.service.conftest import AUTH, MakeClient

SUBMITTED = ('<img src=x onerror=alert(1)>', 'a&b"\'<i>')
RECORDED = "<b>x</b> & 'y'"


def _own_loop_study(url: str, name: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=url, direction="minimize")

    def objective(trial: optuna.Trial) -> float:
        rec = sweepdoctor.record(trial, task="classification", loss="cross_entropy")
        trial.suggest_float("lr", 0.01, 0.1)
        for loss in (1.0, 0.8, 0.7):
            rec.epoch(train_loss=loss, val_loss=loss + 0.1)
        return rec.result(0.8)

    study.optimize(objective, n_trials=1)


def test_submitted_and_recorded_names_are_escaped_on_the_index(sqlite_url: str, make_client: MakeClient) -> None:
    _own_loop_study(sqlite_url, RECORDED)
    c = make_client(sqlite_url)
    for name in SUBMITTED:
        r = c.post("/api/sweeps", json={"study": {"name": name, "trials": 2}, "data": {"dataset": "iris"}},
                   headers=AUTH)
        assert r.status_code == 201, r.text
    page = c.get("/")
    assert page.status_code == 200
    for name in (*SUBMITTED, RECORDED):
        assert name not in page.text, f"{name!r} is on the page unescaped"
        assert html.escape(name, quote=False) in page.text or html.escape(name) in page.text, name
    assert "<img" not in page.text and "<i>" not in page.text and "<b>x" not in page.text
