"""``curl -F config=@my-sweep.toml -F csv=@data.csv``: the documented upload, as curl sends it."""

from __future__ import annotations

from tests.service.conftest import AUTH, MakeClient

_DATA = "a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30))
_CONFIG = '[study]\nname = "uploaded"\ntrials = 3\n[data]\ntarget = "label"\n'


def test_a_config_file_and_a_csv_file_are_one_sweep(sqlite_url: str, make_client: MakeClient) -> None:
    c = make_client(sqlite_url)
    files = {"config": ("my-sweep.toml", _CONFIG, "application/toml"), "csv": ("data.csv", _DATA, "text/csv")}
    r = c.post("/api/sweeps", files=files, headers=AUTH)  # both parts are files, as `curl -F x=@file` sends them
    assert r.status_code == 201, r.text
    sweep = r.json()["sweep"]
    assert r.json()["study"] == "uploaded"
    assert (sweep["csv_name"], sweep["csv_bytes"], sweep["trials"]) == ("data.csv", len(_DATA), 3)
    stored = {s["name"]: s for s in c.get("/api/sweeps").json()}["uploaded"]
    assert 'target = "label"' in stored["config"]


def test_a_third_file_is_refused_in_one_json_line(sqlite_url: str, make_client: MakeClient) -> None:
    files = {"config": ("my-sweep.toml", _CONFIG, "application/toml"), "csv": ("data.csv", _DATA, "text/csv"),
             "extra": ("x.csv", _DATA, "text/csv")}
    r = make_client(sqlite_url).post("/api/sweeps", files=files, headers=AUTH)
    assert r.status_code == 400 and "files" in r.json()["error"]
