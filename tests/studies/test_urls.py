"""The storage URLs the docs show open with the extras they name, on the real servers; a missing
driver is one line naming the extra to install; passwords never appear in messages."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from sweepdoctor.cli import main
from sweepdoctor.errors import StorageError
from sweepdoctor.studies import check_url, make_engine
from sweepdoctor.sweep.search._storage import optuna_storage

torch.set_num_threads(1)

# The spelling as written, the server fixture, the driver that must open it (installed by the extras).
SPELLINGS = [
    pytest.param("postgresql", "pg_url", "psycopg", marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("postgresql+psycopg", "pg_url", "psycopg", marks=pytest.mark.postgres, id="postgresql+psycopg"),
    pytest.param("postgresql+psycopg2", "pg_url", "psycopg2", marks=pytest.mark.postgres, id="postgresql+psycopg2"),
    pytest.param("mysql", "mysql_url", "pymysql", marks=pytest.mark.mysql, id="mysql"),
    pytest.param("mysql+pymysql", "mysql_url", "pymysql", marks=pytest.mark.mysql, id="mysql+pymysql"),
    pytest.param("mariadb", "mysql_url", "pymysql", marks=pytest.mark.mysql, id="mariadb"),
]


@pytest.mark.parametrize("scheme, server, driver", SPELLINGS)
def test_documented_url_spellings_sweep_and_list(
    scheme: str, server: str, driver: str, request: pytest.FixtureRequest
) -> None:
    url = make_url(request.getfixturevalue(server)).set(drivername=scheme).render_as_string(hide_password=False)
    assert url.startswith(f"{scheme}://")
    engine = make_engine(url)
    storage = optuna_storage(url)
    try:
        assert engine.dialect.driver == driver and storage.engine.dialect.driver == driver
    finally:
        engine.dispose()
        storage.engine.dispose()
    r = CliRunner().invoke(main, ["sweep", "--dataset", "iris", "--folds", "2", "--epochs", "1", "--trials", "1",
                                  "--no-baselines", "--threads", "1", "--quiet", "--json",
                                  "--storage", url, "--study", "u"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["studies", "list", "--storage", url, "--json"])
    assert r.exit_code == 0, r.output
    assert [s["name"] for s in json.loads(r.stdout)["studies"]] == ["u"]


@pytest.mark.parametrize("url, hidden, extra", [
    ("postgresql://ann:s3cret@127.0.0.1:5432/test", ("psycopg", "psycopg2"), "postgres"),
    ("postgresql+psycopg://ann:s3cret@127.0.0.1:5432/test", ("psycopg",), "postgres"),
    ("postgresql+psycopg2://ann:s3cret@127.0.0.1:5432/test", ("psycopg2",), "postgres"),
    ("mysql://ann:s3cret@127.0.0.1:3306/test", ("MySQLdb", "pymysql"), "mysql"),
    ("mysql+pymysql://ann:s3cret@127.0.0.1:3306/test", ("pymysql",), "mysql"),
    ("mariadb://ann:s3cret@127.0.0.1:3306/test", ("MySQLdb", "pymysql"), "mysql"),
])
def test_missing_driver_names_the_extra(
    url: str, hidden: tuple[str, ...], extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in hidden:
        monkeypatch.setitem(sys.modules, module, None)  # "import module" now fails: not installed
    with pytest.raises(StorageError) as e:
        check_url(url)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and f"pip install 'sweepdoctor[{extra}]'" in msg
    assert "s3cret" not in msg and "ann:***@" in msg
    r = CliRunner().invoke(main, ["studies", "list", "--storage", url])
    assert r.exit_code == 2 and r.output.startswith("error: ") and len(r.output.strip().splitlines()) == 1
    assert f"sweepdoctor[{extra}]" in r.output and "s3cret" not in r.output


def test_bare_url_falls_back_to_the_driver_that_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    assert check_url("postgresql://a:pw@h/d") == "postgresql+psycopg2://a:pw@h/d"
    monkeypatch.setitem(sys.modules, "MySQLdb", None)
    assert check_url("mariadb://a:p%40w@h/d") == "mariadb+pymysql://a:p%40w@h/d"
    assert check_url("mysql+pymysql://a@h/d") == "mysql+pymysql://a@h/d"  # a named driver is kept as written


def test_a_driver_no_extra_installs_and_an_unknown_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)
    with pytest.raises(StorageError, match=r"pip install mysqlclient, or drop '\+mysqldb' and pip install "
                                           r"'sweepdoctor\[mysql\]'"):
        check_url("mysql+mysqldb://a:pw@h/d")
    with pytest.raises(StorageError, match="database kind 'nosuchdb'") as e:
        check_url("nosuchdb://a:pw@h/d")
    assert "pw@" not in str(e.value)
