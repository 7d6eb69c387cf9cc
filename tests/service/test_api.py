"""The JSON API in process, on SQLite, PostgreSQL and MariaDB (the built study of tests/studies/_build.py)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy.engine import make_url

from tests.service.conftest import AUTH, MakeClient
from tests.studies._build import EVIL


def test_studies_list_has_name_trials_best_direction_states(shared_url: str, make_client: MakeClient) -> None:
    r = make_client(shared_url).get("/api/studies")
    assert r.status_code == 200
    studies = {s["name"]: s for s in r.json()}
    assert set(studies) == {"digits-mlp", "plain", "doomed", "evil"}
    s = studies["digits-mlp"]
    assert (s["n_trials"], s["best_value"], s["direction"]) == (7, 0.25, "minimize")
    assert s["states"] == {"complete": 5, "pruned": 1, "fail": 1}


def test_study_detail_and_missing_study(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    d = c.get("/api/studies/digits-mlp").json()
    assert d["best"]["number"] == 1 and d["best"]["params"]["optimizer"] == "adam"
    assert {"overfitting": 2, "divergence": 1}.items() <= d["findings"].items()  # the stored findings
    assert d["sweep"] is None and d["live"] is False
    r = c.get("/api/studies/nope")
    assert r.status_code == 404 and "no study named 'nope'" in r.json()["error"]


def test_trials_filter_sort_state_page(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    r = c.get("/api/studies/digits-mlp/trials", params={"where": ["optimizer=adam", "lr>=1e-3"], "sort": "value"})
    assert r.status_code == 200
    assert [t["number"] for t in r.json()["trials"]] == [1, 0]
    r = c.get("/api/studies/digits-mlp/trials", params={"state": ["complete"], "sort": "value", "limit": 2,
                                                        "offset": 1})
    body = r.json()
    assert body["matched"] == 5 and [t["number"] for t in body["trials"]] == [0, 4]
    r = c.get("/api/studies/digits-mlp/trials", params={"finding": "overfitting"})
    assert sorted(t["number"] for t in r.json()["trials"]) == [1, 4]


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"where": "bogus"}, 400, "is not NAME OP VALUE"),
        ({"where": "nosuch=1"}, 400, "'nosuch' is not a parameter"),
        ({"sort": "nosuch"}, 400, "'nosuch' is not a parameter"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": "many"}, 422, "limit"),
        ({"offset": -1}, 422, "offset"),
        ({"state": "sleeping"}, 422, "state"),
    ],
)
def test_bad_trial_queries_are_one_line_4xx(
    shared_url: str, make_client: MakeClient, params: dict[str, object], status: int, says: str
) -> None:
    r = make_client(shared_url).get("/api/studies/digits-mlp/trials", params=params)
    assert r.status_code == status
    err = r.json()["error"]
    assert says in err and "\n" not in err and "Traceback" not in err


def test_sql_text_in_where_is_a_bound_value(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    r = c.get("/api/studies/evil/trials", params={"where": f"note={EVIL}"})
    assert r.status_code == 200 and [t["number"] for t in r.json()["trials"]] == [1]
    assert c.get("/api/studies/evil/trials").json()["matched"] == 3  # nothing was dropped


def test_trial_detail_has_params_folds_curves(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    d = c.get("/api/studies/digits-mlp/trials/1").json()
    assert d["params"] == {"optimizer": "adam", "lr": 0.01, "batch_size": 64}
    assert len(d["fold_scores"]) == 3
    folds = d["curves"]["folds"]
    assert len(folds) == 3 and [e["epoch"] for e in folds[0]["epochs"]] == [1, 2, 3, 4, 5]  # epochs 1..E, as every view
    assert {"train_loss", "val_loss", "grad_norm", "lr"} <= set(folds[0]["epochs"][0])
    assert [b["name"] for b in d["baselines"]] == ["linear"]
    assert c.get("/api/studies/digits-mlp/trials/99").status_code == 404
    assert c.get("/api/studies/plain/trials/1").json()["curves"] is None  # plain Optuna: no curves, still 200


def test_diagnosis(shared_url: str, make_client: MakeClient) -> None:
    d = make_client(shared_url).get("/api/studies/digits-mlp/diagnosis").json()
    assert {"overfitting": 2, "divergence": 1}.items() <= d["stored_counts"].items()
    assert ("counts" in d) == (d["note"] is None)  # a live diagnosis, or the reason it is missing
    if "counts" in d:
        assert "divergence" in d["counts"] and isinstance(d["patterns"], list)


def test_exports(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    rows = list(csv.DictReader(io.StringIO(c.get("/api/studies/digits-mlp/export?format=csv").text)))
    assert len(rows) == 7 and rows[1]["params_optimizer"] == "adam"
    doc = c.get("/api/studies/digits-mlp/export?format=json").json()
    assert doc["format"] == "sweepdoctor.study/1" and len(doc["trials"]) == 7
    history = c.get("/api/studies/digits-mlp/export?format=history").json()
    assert history["format"] == "sweepdoctor.history/1" and len(history["runs"]) == 8
    assert c.get("/api/studies/digits-mlp/export?format=xml").status_code == 422


def test_read_only_without_token_and_wrong_token(built_url: str, make_client: MakeClient) -> None:
    ro = make_client(built_url, token=None)
    r = ro.delete("/api/studies/doomed", headers=AUTH)
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    rw = make_client(built_url)
    assert rw.delete("/api/studies/doomed").status_code == 401
    r = rw.delete("/api/studies/doomed", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "doomed" in {s["name"] for s in rw.get("/api/studies").json()}
    r = rw.delete("/api/studies/doomed", headers=AUTH)
    assert r.status_code == 200
    assert "doomed" not in {s["name"] for s in rw.get("/api/studies").json()}
    assert rw.delete("/api/studies/doomed", headers=AUTH).status_code == 404


SWEEP = {
    "data": {"dataset": "iris"},
    "train": {"folds": 2, "epochs": 2, "baselines": False},
    "study": {"name": "api-sweep", "trials": 4, "pruner": "none"},
    "space": {"depth": 1, "lr": {"low": 1e-3, "high": 1e-1, "log": True}, "optimizer": ["adam", "sgd"]},
}


def test_submit_json_toml_and_csv_then_stop(any_url: str, make_client: MakeClient) -> None:
    c = make_client(any_url)
    r = c.post("/api/sweeps", json=SWEEP, headers=AUTH)
    assert r.status_code == 201 and r.json()["study"] == "api-sweep"
    assert c.post("/api/sweeps", json=SWEEP, headers=AUTH).status_code == 409
    toml = '[study]\nname = "toml-sweep"\ntrials = 2\n[data]\ndataset = "wine"\n'
    r = c.post("/api/sweeps", content=toml, headers={**AUTH, "Content-Type": "application/toml"})
    assert r.status_code == 201 and r.json()["sweep"]["trials"] == 2
    data = "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30))
    config = '[study]\nname = "csv-sweep"\ntrials = 3\n[data]\ntarget = "label"\n'
    r = c.post("/api/sweeps", data={"config": config}, files={"csv": ("mine.csv", data, "text/csv")}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["sweep"]["csv_bytes"] == len(data) and r.json()["sweep"]["csv_name"] == "mine.csv"
    sweeps = {s["name"]: s for s in c.get("/api/sweeps").json()}
    assert {n: s["state"] for n, s in sweeps.items()} == {"api-sweep": "queued", "toml-sweep": "queued",
                                                          "csv-sweep": "queued"}
    assert 'dataset = "iris"' in sweeps["api-sweep"]["config"]
    r = c.post("/api/sweeps/api-sweep/stop", headers=AUTH)
    assert r.status_code == 200 and r.json()["state"] == "stopped"
    assert c.post("/api/sweeps/nope/stop", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**SWEEP, "study": {"storage": "sqlite:///x.db"}}, "study.storage"),
        ({**SWEEP, "data": {"csv": "/etc/passwd", "target": "x"}}, "upload the file"),
        ({**SWEEP, "data": {"npz": "/etc/secret.npz"}}, "data.npz: a path on the server"),
        ({**SWEEP, "data": {"images": "/home"}}, "data.images: a path on the server"),
        ({**SWEEP, "bogus": {}}, "unknown section 'bogus'"),
        ({**SWEEP, "train": {"folds": 1}}, "train.folds"),
        ({**SWEEP, "study": {"name": "a/b"}}, "study.name"),
        ({"config": SWEEP, "csv": "x,y\n1,2\n"}, "data.target"),
        ({"config": {**SWEEP, "data": {"target": "label"}}, "csv": "x,y\n1,2\n"}, "no column 'label'"),
        ([1, 2], "expected a JSON object"),
        ({**SWEEP, "data": {"dataset": "nosuch"}}, "'nosuch'"),
        ({**SWEEP, "study": {"name": "huge", "trials": 10**30}}, "study.trials: at most 1,000,000"),
        ({**SWEEP, "space": {"lr": {"low": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}}}, "nested"),
    ],
)
def test_bad_submissions_are_422_and_store_nothing(
    shared_url: str, make_client: MakeClient, body: object, says: str
) -> None:
    c = make_client(shared_url)
    r = c.post("/api/sweeps", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert says in r.json()["error"] and "\n" not in r.json()["error"]
    assert c.get("/api/sweeps").json() == []  # refused at submission, not accepted to fail in an agent


def test_bodies_and_csvs_are_size_limited(sqlite_url: str, make_client: MakeClient) -> None:
    from sweepdoctor.service import Limits

    c = make_client(sqlite_url, limits=Limits(body=4096, csv=100))
    r = c.post("/api/sweeps", content="x" * 5000, headers={**AUTH, "Content-Type": "application/toml"})
    assert r.status_code == 413 and "limit of 4096" in r.json()["error"]
    chunked = (b"x" * 1000 for _ in range(5))  # no Content-Length: counted while read
    r = c.post("/api/sweeps", content=chunked, headers={**AUTH, "Content-Type": "application/toml"})
    assert r.status_code == 413 and "limit of 4096" in r.json()["error"]
    big = "label,x\n" + "1,2\n" * 50
    r = c.post("/api/sweeps", json={"config": {"data": {"target": "label"}}, "csv": big}, headers=AUTH)
    assert r.status_code == 413 and "limit of 100" in r.json()["error"]
    r = c.post("/api/sweeps", content=b"[study]", headers={**AUTH, "Content-Type": "image/png"})
    assert r.status_code == 415


def test_delete_stops_and_forgets_a_submitted_sweep(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    assert c.post("/api/sweeps", json=SWEEP, headers=AUTH).status_code == 201
    r = c.delete("/api/studies/api-sweep", headers=AUTH)  # no agent made its study yet
    assert r.status_code == 200 and r.json()["sweep_deleted"] is True
    assert c.get("/api/sweeps").json() == []


@pytest.mark.postgres
def test_storage_password_never_in_responses_or_pages(pg_url: str, make_client: MakeClient) -> None:
    from tests.studies._build import full_study

    secret = "hunter2-pw"  # the test server trusts local connections: any password works
    url = make_url(pg_url).set(password=secret).render_as_string(hide_password=False)
    full_study(url, "digits-mlp")
    c = make_client(url)
    texts = [c.get(p).text for p in ("/api/studies", "/api/studies/nope", "/", "/studies/digits-mlp",
                                     "/studies/nope", "/api/studies/digits-mlp/export?format=json")]
    assert "no study named 'nope'" in texts[1] and "***" in texts[1]
    assert all(secret not in t for t in texts)
    assert json.loads(texts[0])[0]["name"] == "digits-mlp"


def test_json_config_is_written_as_the_toml_it_means() -> None:
    import tomllib

    from sweepdoctor.sweep import tables_to_toml

    doc = {"study": {"name": 'a "quoted" name', "trials": 3, "timeout": None},
           "space": {"lr": {"low": 1e-4, "high": 0.3, "log": True}, "optimizer": ["adam", "sgd"], "depth": 2}}
    back = tomllib.loads(tables_to_toml(doc))
    assert back == {"study": {"name": 'a "quoted" name', "trials": 3}, "space": doc["space"]}


def test_a_read_only_server_writes_nothing(sqlite_url: str, make_client: MakeClient) -> None:
    from sqlalchemy import create_engine, inspect

    from tests.studies._build import build_plain

    build_plain(sqlite_url)  # Optuna's tables only
    c = make_client(sqlite_url, token=None)
    assert [s["name"] for s in c.get("/api/studies").json()] == ["plain"]
    assert c.get("/api/sweeps").json() == [] and c.get("/").status_code == 200
    assert c.get("/studies/plain").status_code == 200
    engine = create_engine(sqlite_url)
    try:
        assert not [t for t in inspect(engine).get_table_names() if t.startswith("sd_")]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("StudyNotFoundError", 404),
        ("TrialNotFoundError", 404),
        ("CurvesNotFoundError", 404),
        ("SweepNotFoundError", 404),
        ("StorageError", 503),
        ("DuplicatedSweepError", 409),
        ("TooLargeError", 413),
        ("ConfigError", 400),
        ("DataError", 400),
        ("HistoryFormatError", 400),
    ],
)
def test_the_status_follows_the_errors_type_not_its_words(error: str, status: int) -> None:
    from sweepdoctor import errors
    from sweepdoctor.service._http import _status_of

    kind = getattr(errors, error)
    assert _status_of(kind("storage: no study named 'x'; already submitted")) == status  # the words never matter
    assert _status_of(kind("anything at all")) == status


def test_not_found_routes_are_404_by_type(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    assert c.get("/api/studies/nope/trials").status_code == 404
    assert c.get("/api/studies/digits-mlp/trials/99").status_code == 404
    r = c.get("/api/studies/plain/export?format=history")  # plain Optuna: no curves to export
    assert r.status_code == 404 and "no curves of ours" in r.json()["error"]
    assert c.post("/api/sweeps/nope/stop", headers=AUTH).status_code == 404
