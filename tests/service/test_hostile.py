"""A hostile client's input is a one-line 4xx, never a 500 and never a 503 (issue 24).

Each case once gave a 500 (RecursionError, OverflowError) or a 503 "database error"
(SQLite joins at most 64 tables) before it was checked at the edge or in the library.
"""

from __future__ import annotations

import pytest

from tests.service.conftest import AUTH, MakeClient

HUGE = 10**23  # past 64 bits: no database driver binds it as an integer


def _one_line(r: object, *statuses: int) -> str:
    status, body = r.status_code, r.json()  # type: ignore[attr-defined]
    assert status in statuses, (status, body)
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    return str(body["error"])


@pytest.mark.parametrize("deep", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000])
def test_a_json_body_nested_100000_deep(sqlite_url: str, make_client: MakeClient, deep: str) -> None:
    c = make_client(sqlite_url)
    r = c.post("/api/sweeps", content=deep, headers={**AUTH, "Content-Type": "application/json"})
    assert "nested too deep" in _one_line(r, 413, 422)
    form_part = '{"a":' * 9_000 + "1" + "}" * 9_000  # JSON text in a form, under the part's 60,000 bytes
    r = c.post("/api/sweeps", files={"config": (None, form_part)}, headers=AUTH)
    assert "nested too deep" in _one_line(r, 413, 422)
    assert c.get("/api/sweeps").json() == []


def test_toml_text_nested_thousands_deep(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    text = "[study]\ntrials = " + "[" * 20_000 + "]" * 20_000 + "\n"
    r = c.post("/api/sweeps", content=text, headers={**AUTH, "Content-Type": "application/toml"})
    assert "nested too deep" in _one_line(r, 413, 422)


def test_trials_10_to_the_30(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    toml = '[study]\nname = "huge"\ntrials = 1000000000000000000000000000000\n[data]\ndataset = "iris"\n'
    r = c.post("/api/sweeps", content=toml, headers={**AUTH, "Content-Type": "application/toml"})
    assert "study.trials: at most 1,000,000 trials" in _one_line(r, 422)
    assert c.get("/api/sweeps").json() == []


def test_an_unknown_builtin_dataset_is_refused_at_submission(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    body = {"study": {"name": "typo", "trials": 2}, "data": {"dataset": "irs"}}
    error = _one_line(c.post("/api/sweeps", json=body, headers=AUTH), 422)
    assert "data.dataset" in error and "'irs'" in error
    body["data"] = {"dataset": "iris"}
    assert c.post("/api/sweeps", json=body, headers=AUTH).status_code == 201  # the same, spelled right


def test_a_trial_number_past_64_bits(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    for path in (f"/api/studies/digits-mlp/trials/{HUGE}", f"/api/studies/digits-mlp/trials/{-HUGE}"):
        assert f"no stored trial {path.rsplit('/', 1)[1]}" in _one_line(c.get(path), 404, 422)
    page = c.get(f"/studies/digits-mlp/trials/{HUGE}")
    assert page.status_code in (404, 422) and "Traceback" not in page.text
    r = c.get("/api/studies/digits-mlp/trials", params={"after": HUGE})
    assert r.status_code in (200, 422) and "Traceback" not in r.text
    r = c.get("/api/studies/digits-mlp/trials", params={"where": f"number<{HUGE}"})
    assert r.status_code == 200 and r.json()["matched"] == 7  # a huge number still compares right


def test_seventy_where_filters_name_the_limit(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)
    where = ["lr>=0"] * 70
    for path in ("/api/studies/digits-mlp/trials", "/studies/digits-mlp"):
        error = _one_line(c.get(path, params={"where": where}), 400, 422)
        assert "at most 32 conditions, got 70" in error and "database" not in error
    r = c.get("/api/studies/digits-mlp/trials", params={"where": ["lr>=0"] * 32, "sort": "lr"})
    assert r.status_code == 200 and r.json()["matched"] == 7  # the limit itself works on every backend


def test_a_nul_character_in_a_name_or_a_filter(shared_url: str, make_client: MakeClient) -> None:
    c = make_client(shared_url)  # PostgreSQL's driver cannot send a NUL: once a ValueError and a 500
    for path, params in [("/api/studies/a%00b", None), ("/studies/a%00b", None), ("/api/studies/a%00b/diagnosis", None),
                         ("/api/studies/digits-mlp/trials", {"sort": "a\x00"}),
                         ("/api/studies/digits-mlp/trials", {"where": "optimizer=a\x00b"})]:
        assert "NUL character" in _one_line(c.get(path, params=params), 422)
    assert "NUL character" in _one_line(c.post("/api/sweeps/a%00b/stop", headers=AUTH), 422)
    assert "NUL character" in _one_line(c.delete("/api/studies/a%00b", headers=AUTH), 422)
    body = {"config": {"study": {"name": "n", "trials": 2}, "data": {"target": "y"}}, "csv": "y,x\n1,2\n",
            "csv_name": "a\x00b.csv"}
    assert "csv_name" in _one_line(c.post("/api/sweeps", json=body, headers=AUTH), 422)
