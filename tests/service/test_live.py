"""Live curves: the study's event stream while a real sweep runs, its resume, its refusals; ``serve --workers``."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace

import optuna
import pytest
import torch
import uvicorn
from click.testing import CliRunner
from sqlalchemy import event, select

from sweepdoctor import sweep
from sweepdoctor.cli import main
from sweepdoctor.errors import StudyNotFoundError
from sweepdoctor.service import create_app
from sweepdoctor.service._live import LiveSettings
from sweepdoctor.studies import LiveCursor, LiveEvent, LiveFeed, make_engine, session_scope
from sweepdoctor.studies.db import EpochRow, RunRow
from sweepdoctor.sweep.search import _live
from tests.service._servers import free_port, serving, wait_http
from tests.service.conftest import MakeClient
from tests.sweep.helpers import small_config


@contextmanager
def _uvicorn(url: str, *, poll_s: float = 0.1, statements: list[int] | None = None) -> Iterator[str]:
    """The app over ``url`` served by uvicorn in a thread (the stream needs a real server); yields its base URL.

    ``statements``: its one item counts the SQL statements the server runs."""
    app = create_app(url)
    app.state.live_settings = LiveSettings(poll_s=poll_s, heartbeat_s=0.5)
    if statements is not None:
        def count(*_: object) -> None:
            statements[0] += 1

        event.listen(app.state.sweepdoctor.engine, "before_cursor_execute", count)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/api/studies", timeout_s=20)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.sweepdoctor.close()


def _read(base: str, study: str, *, until: int, last_id: str | None = None, src: str | None = None,
          timeout_s: float = 60.0) -> list[tuple[str, str, dict[str, object]]]:
    """(event, id, data) of the stream (or of the page's ``src``) until ``until`` trial events arrived;
    fails after ``timeout_s``."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    got: list[tuple[str, str, dict[str, object]]] = []
    deadline = time.monotonic() + timeout_s
    with _stream(base + (src or f"/api/studies/{study}/events"), headers) as lines:
        kind = ident = ""
        for line in lines:
            assert time.monotonic() < deadline, f"only {got} after {timeout_s} s"
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                got.append((kind, ident, json.loads(line[6:])))
                if sum(k == "trial" for k, _, _ in got) >= until:
                    return got
    raise AssertionError(f"the stream ended after {got}")


@contextmanager
def _stream(url: str, headers: dict[str, str]) -> Iterator[Iterator[str]]:
    """The lines of an event stream, read as they come."""
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
        yield (raw.decode().rstrip("\n") for raw in r)


def _wait_study(url: str, name: str) -> None:
    """Until the sweep made its study (read with sqlite3: Optuna's own reader would create its tables too)."""
    deadline = time.monotonic() + 20
    path = url.removeprefix("sqlite:///")
    while True:
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                if db.execute("SELECT 1 FROM studies WHERE study_name = ?", (name,)).fetchone():
                    return
        except sqlite3.OperationalError:  # no file or no tables yet
            pass
        assert time.monotonic() < deadline, "the sweep did not create its study"
        time.sleep(0.05)


def test_stream_follows_a_running_sweep_and_resumes(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Trials shorter than the live curves' interval: their epochs are stored with the record, in one write
    # (a slow machine's would be written live too: test_a_running_trials_epochs_arrive_while_it_trains).
    monkeypatch.setattr(_live, "LIVE_INTERVAL_S", 60.0)
    cfg = small_config(sqlite_url, "live", trials=2, epochs=3, folds=2, sampler="random", pruner="median")
    runner = threading.Thread(target=sweep.run, args=(cfg,), kwargs={"data": sweep.load_builtin("iris", seed=0)})
    runner.start()
    _wait_study(sqlite_url, "live")
    with _uvicorn(sqlite_url) as base:
        events = _read(base, "live", until=2, last_id="0-0-0")  # from the start: nothing stored is missed
        runner.join(timeout=60)
        epochs = [d for k, _, d in events if k == "epoch"]
        trials = [d for k, _, d in events if k == "trial"]
        assert [(d["trial"], d["state"]) for d in trials] == [(0, "complete"), (1, "complete")]
        for number in (0, 1):
            for fold in (0, 1):  # every epoch of every fold, 1-based, in order
                assert [d["epoch"] for d in epochs if d["trial"] == number and d["fold"] == fold] == [1, 2, 3]
        assert all(isinstance(d["val_loss"], float) and isinstance(d["lr"], float) for d in epochs)
        for number in (0, 1):  # what the trial reported to its pruner after each epoch, while it trained
            assert [d["epoch"] for k, _, d in events if k == "progress" and d["trial"] == number] == [1, 2, 3]
        stored = {t.number: t.value for t in optuna.load_study(study_name="live", storage=sqlite_url).trials}
        assert {d["trial"]: d["value"] for d in trials} == stored
        ids = [LiveCursor.parse(i) for _, i, _ in events]
        assert ids == sorted(ids, key=lambda c: (c.epoch_id, c.value_id, c.run_id))
        kinds = [k for k, _, d in events if d["trial"] == 0]  # reported while training, stored, then finished
        assert kinds.index("progress") < kinds.index("epoch") < kinds.index("trial")
        for number in (0, 1):  # each trial's epochs come before the trial itself (both may share one poll)
            last_epoch = max(i for i, (k, _, d) in enumerate(events) if k == "epoch" and d["trial"] == number)
            finished = next(i for i, (k, _, d) in enumerate(events) if k == "trial" and d["trial"] == number)
            assert last_epoch < finished
        first_trial_at = next(i for i, (k, _, _) in enumerate(events) if k == "trial")

        resume_at = events[first_trial_at][1]  # after trial 0's event: exactly what came after it, again
        later = _read(base, "live", until=1, last_id=resume_at)
        assert later == events[first_trial_at + 1:]
        assert {d["trial"] for k, _, d in later if k == "trial"} == {1}


class _Slow(torch.nn.Module):
    """A linear model whose forward pass takes 3 ms more: a trial of 60 epochs trains for seconds anywhere."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.003)
        return self.lin(x)  # type: ignore[no-any-return]


def _training(url: str, number: int) -> bool:
    """Whether trial ``number`` of study ``training`` still trains: Optuna says RUNNING and its record is not stored."""
    with closing(sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True)) as db:
        db.execute("BEGIN")  # one snapshot for both
        state = db.execute("SELECT t.state FROM trials t JOIN studies s ON s.study_id = t.study_id "
                           "WHERE s.study_name = 'training' AND t.number = ?", (number,)).fetchone()[0]
        stored = db.execute("SELECT count(*) FROM sd_runs r JOIN studies s ON s.study_id = r.study_id "
                            "WHERE s.study_name = 'training' AND r.trial_number = ?", (number,)).fetchone()[0]
    return bool(state == "RUNNING" and stored == 0)


def test_a_running_trials_epochs_arrive_while_it_trains(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_live, "LIVE_INTERVAL_S", 0.2)  # the sweep runs in this process: a write every 0.2 s
    cfg = small_config(sqlite_url, "training", trials=2, epochs=60, folds=2)
    runner = threading.Thread(target=sweep.run, args=(cfg,), kwargs={
        "data": sweep.load_builtin("iris", seed=0), "model_fn": lambda _hp, n_in, n_out: _Slow(n_in, n_out)})
    runner.start()
    _wait_study(sqlite_url, "training")
    events: list[tuple[str, str, dict[str, object]]] = []
    heard = None  # (trial, index in events): the first epoch event heard while its trial trained
    deadline = time.monotonic() + 90
    try:
        with _uvicorn(sqlite_url) as base, _stream(f"{base}/api/studies/training/events",
                                                   {"Last-Event-ID": "0-0-0"}) as lines:
            kind = ident = ""
            for line in lines:
                assert time.monotonic() < deadline, f"only {events} after 90 s"
                if line.startswith(("event: ", "id: ")):
                    kind, ident = (line[7:], ident) if line.startswith("event: ") else (kind, line[4:])
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    events.append((kind, ident, data))
                    if heard is None and kind == "epoch" and _training(sqlite_url, int(data["trial"])):
                        heard = (int(data["trial"]), len(events) - 1)
                    if kind == "trial" and (heard is not None and data["trial"] == heard[0] or data["trial"] == 1):
                        break
            assert heard is not None, f"no epoch while its trial trained among {len(events)} events"
            number, at = heard
            again = _read(base, "training", until=1, last_id=events[at][1])  # resumed after that event
    finally:
        runner.join(timeout=120)
    last, _, finished = events[-1]
    assert at < len(events) - 1 and last == "trial" and (finished["trial"], finished["state"]) == (number, "complete")
    mine = [(d["fold"], d["epoch"]) for k, _, d in events if k == "epoch" and d["trial"] == number]
    assert sorted(mine) == [(f, e) for f in (0, 1) for e in range(1, 61)]  # each epoch once, before the trial's event
    for fold in (0, 1):
        assert [e for f, e in mine if f == fold] == list(range(1, 61))
    rest = events[at + 1:]
    for k in ("epoch", "trial"):  # a resume: what came after that event, each once, in order
        assert [d for kk, _, d in again if kk == k and d["trial"] == number] == [
            d for kk, _, d in rest if kk == k and d["trial"] == number]


def test_new_stream_starts_after_what_is_stored_and_ends_with_its_client(sqlite_url: str) -> None:
    cfg = small_config(sqlite_url, "done", trials=1, epochs=2, folds=2)
    sweep.run(cfg, data=sweep.load_builtin("iris", seed=0))
    statements = [0]
    with _uvicorn(sqlite_url, statements=statements) as base:
        with _stream(f"{base}/api/studies/done/events", {}) as stream:
            lines = []
            for line in stream:  # heartbeat every 0.5 s here: a quiet stream still speaks
                lines.append(line)
                if line.startswith(":"):
                    break
        assert lines[0].startswith("retry: ") and not any(x.startswith("data: ") for x in lines)
        time.sleep(0.5)  # the server notices the client left within a poll
        gone = statements[0]
        time.sleep(1.0)  # 10 polls' time: none comes
        assert statements[0] == gone


def test_unknown_study_and_bad_event_id_are_refused(sqlite_url: str, make_client: MakeClient) -> None:
    cfg = small_config(sqlite_url, "s", trials=1, epochs=1, folds=2)
    sweep.run(cfg, data=sweep.load_builtin("iris", seed=0))
    client = make_client(sqlite_url, token=None)
    r = client.get("/api/studies/nope/events")
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = client.get("/api/studies/s/events", headers={"Last-Event-ID": "yesterday"})
    assert r.status_code == 400 and "Last-Event-ID" in r.json()["error"]
    doc = client.get("/openapi.json").json()["paths"]["/api/studies/{name}/events"]["get"]
    assert all(name in doc["description"] for name in ("`epoch`", "`progress`", "`trial`", "Last-Event-ID"))


def test_pages_of_a_running_trial_listen_to_the_stream(sqlite_url: str, make_client: MakeClient) -> None:
    cfg = small_config(sqlite_url, "p", trials=1, epochs=1, folds=2)
    sweep.run(cfg, data=sweep.load_builtin("iris", seed=0))
    study = optuna.load_study(study_name="p", storage=sqlite_url)
    running = study.ask()  # a trial that runs now, as a sweep's would
    client = make_client(sqlite_url, token=None)
    page = client.get(f"/studies/p/trials/{running.number}").text
    assert 'data-src="/api/studies/p/events?after=' in page and "EventSource" in page
    assert f'data-trial="{running.number}"' in page
    assert "EventSource" in client.get("/studies/p").text
    assert "EventSource" not in client.get("/studies/p/trials/0").text  # a finished trial does not listen


def test_a_page_hears_what_is_stored_before_its_browser_connects(sqlite_url: str, make_client: MakeClient) -> None:
    """The page's stream starts where the page was drawn: a trial that ends while the browser loads it
    still reaches the page (a stream that started at its connection would never tell it)."""
    cfg = small_config(sqlite_url, "p", trials=1, epochs=2, folds=2)
    sweep.run(cfg, data=sweep.load_builtin("iris", seed=0))
    optuna.load_study(study_name="p", storage=sqlite_url).ask()  # a running trial: the page listens
    page = make_client(sqlite_url, token=None).get("/studies/p").text
    src = re.search(r'data-src="([^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    sweep.run(replace(cfg, study=replace(cfg.study, trials=3)), data=sweep.load_builtin("iris", seed=0))
    with _uvicorn(sqlite_url) as base:
        events = _read(base, "p", until=1, src=src, timeout_s=15)
        again = _read(base, "p", until=1, src=src, last_id=events[0][1], timeout_s=15)
    finished = [d["trial"] for k, _, d in events if k == "trial"]
    assert finished and finished[0] >= 2  # the trial run after the page was drawn
    assert [d["epoch"] for k, _, d in events if k == "epoch" and d["fold"] == 0][:2] == [1, 2]
    assert again == events[1:]  # a reconnect's Last-Event-ID wins over the page's start


# ---- serve --workers ---------------------------------------------------------------------------------


@pytest.mark.slow  # three interpreters start
def test_serve_with_two_workers_answers(sqlite_url: str) -> None:
    said: list[str] = []
    # a token: writable (it makes the new database), and each worker knows it
    with serving(sqlite_url, token="t", args=("--workers", "2"), said=said) as base:
        for _ in range(2):
            with urllib.request.urlopen(base + "/api/studies", timeout=5) as r:
                assert r.status == 200 and json.loads(r.read()) == []
        refused = urllib.request.Request(base + "/api/studies/nope", method="DELETE",
                                         headers={"Authorization": "Bearer x"})
        with pytest.raises(urllib.error.HTTPError) as e:  # the workers got the token: a wrong one is refused
            urllib.request.urlopen(refused, timeout=5)
        e.value.close()
        assert e.value.code in (401, 403)
    assert "2 workers" in said[0]


def test_serve_refuses_zero_workers_and_a_busy_port(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    r = CliRunner().invoke(main, ["serve", "--storage", url, "--workers", "0"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--workers" in r.output and "got 0" in r.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = CliRunner().invoke(main, ["serve", "--storage", url, "--port", str(port), "--workers", "2"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--port" in r.output
    assert not (tmp_path / "new.db").exists()  # type: ignore[operator]


# ---- the feed's keyset on every backend --------------------------------------------------------------


def test_feed_replays_a_stored_study_in_order_on_every_backend(shared_url: str) -> None:
    engine = make_engine(shared_url)
    try:
        feed = LiveFeed(engine, "digits-mlp", batch=7)  # small pages: the keyset carries on where it stopped
        events: list[LiveEvent] = []
        cursor = LiveCursor()
        while True:
            batch, after = feed.poll(cursor)
            if after == cursor:
                break
            events += batch
            cursor = after
        assert feed.poll(feed.tail())[0] == [] and feed.poll(cursor) == ([], cursor)
        with session_scope(engine) as s:
            rows = s.execute(select(RunRow.trial_number, EpochRow.fold, EpochRow.epoch).join(
                RunRow, RunRow.id == EpochRow.run_id).where(RunRow.study_id == feed.study_id,
                                                            RunRow.trial_number.is_not(None))).all()
        got = [(e.data["trial"], e.data["fold"], e.data["epoch"]) for e in events if e.kind == "epoch"]
        assert sorted(got) == sorted((t, f, e + 1) for t, f, e in rows) and len(got) > 7
        study = optuna.load_study(study_name="digits-mlp", storage=shared_url)
        finished = {t.number: t.state.name.lower() for t in study.trials if t.state.is_finished()}
        trials = {e.data["trial"]: e.data["state"] for e in events if e.kind == "trial"}
        assert trials and all(finished[n] == state for n, state in trials.items())
        plain, _ = LiveFeed(engine, "plain").poll(LiveCursor())  # Optuna only: its reported values, nothing of ours
        assert plain and {e.kind for e in plain} == {"progress"}
        with pytest.raises(StudyNotFoundError):
            LiveFeed(engine, "nope")
    finally:
        engine.dispose()


def test_feed_reads_only_new_rows_by_primary_key(shared_url: str) -> None:
    """SQLite's plans: each epoch and value query walks its primary key from the cursor, none the study's rows."""
    if not shared_url.startswith("sqlite"):
        pytest.skip("the plans of SQLite (PostgreSQL chooses by its statistics)")
    engine = make_engine(shared_url)
    statements: list[tuple[str, object]] = []

    def grab(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().startswith("SELECT") and "max(" not in statement:
            statements.append((statement, params))

    try:
        feed = LiveFeed(engine, "digits-mlp")
        event.listen(engine, "before_cursor_execute", grab)
        feed.poll(LiveCursor(1, 1, 1))
        event.remove(engine, "before_cursor_execute", grab)
        with engine.connect() as c:
            plans = [" | ".join(r[-1] for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + st, p).all())  # type: ignore[arg-type]
                     for st, p in statements if "sqlite_master" not in st]
    finally:
        engine.dispose()
    assert len(plans) == 3, plans
    assert "SEARCH trial_intermediate_values USING INTEGER PRIMARY KEY (rowid>?)" in plans[0]
    assert "SEARCH sd_epochs USING INTEGER PRIMARY KEY (rowid>?)" in plans[1]
    assert "(study_id=? AND rowid>?)" in plans[2]
    assert not any("SCAN trials" in p or "SCAN sd_" in p or "ix_trials_study_id" in p for p in plans), plans
