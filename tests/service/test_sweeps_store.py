"""The submitted-sweeps table (``sd_sweeps``) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest

from sweepdoctor.errors import ConfigError, StorageError
from sweepdoctor.studies import (
    delete_sweep,
    finish_sweep,
    get_sweep,
    list_sweeps,
    make_engine,
    next_sweep,
    stop_sweep,
    submit_sweep,
    sweep_csv,
)


def test_submit_take_finish_stop_delete(any_url: str) -> None:
    engine = make_engine(any_url)
    try:
        csv = b"a,label\n" + b"1,0\n" * 200_000  # 800 kB: more than MySQL's BLOB holds
        a = submit_sweep(engine, name="a", config="[study]\ntrials = 3\n", trials=3, csv=csv, csv_name="d.csv")
        assert (a.state, a.trials, a.csv_bytes, a.csv_name) == ("queued", 3, len(csv), "d.csv")
        submit_sweep(engine, name="b", config="", trials=1)
        with pytest.raises(ConfigError, match="already submitted"):
            submit_sweep(engine, name="a", config="", trials=1)
        assert sweep_csv(engine, "a") == csv and sweep_csv(engine, "b") is None
        taken = next_sweep(engine)
        assert taken is not None and (taken.name, taken.state) == ("a", "running")
        assert next_sweep(engine, name="b") is not None  # agents share sweeps: taking is not exclusive
        assert finish_sweep(engine, "a") and get_sweep(engine, "a").state == "done"
        assert not finish_sweep(engine, "a", failed="late")  # a finished sweep keeps its state
        assert stop_sweep(engine, "b").state == "stopped"
        assert not finish_sweep(engine, "b") and get_sweep(engine, "b").state == "stopped"
        assert next_sweep(engine) is None
        assert [s.name for s in list_sweeps(engine, states=("done",))] == ["a"]
        assert delete_sweep(engine, "a") and not delete_sweep(engine, "a")
        with pytest.raises(StorageError, match="no submitted sweep named 'a'"):
            get_sweep(engine, "a")
    finally:
        engine.dispose()
