"""Fixtures of the service tests: a built study database and an in-process client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from sweepdoctor.service import Limits, create_app
from tests.conftest import MYSQL_ADMIN_URL, PG_ADMIN_URL, _fresh_database
from tests.studies._build import build_all

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
XSS = "<script>alert(1)</script>"

MakeClient = Callable[..., TestClient]


@pytest.fixture
def built_url(any_url: str) -> str:
    """digits-mlp (curves and findings), plain (Optuna only), doomed, evil, on every backend (fresh)."""
    build_all(any_url)
    return any_url


@pytest.fixture(scope="module", params=["sqlite", "postgres", "mysql"])
def shared_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same database as ``built_url``, built once per module and backend: for tests that only read."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('shared')}/study.db"
        build_all(url)
        yield url
        return
    admin, what, quote = (
        (PG_ADMIN_URL, "PostgreSQL", '"') if request.param == "postgres" else (MYSQL_ADMIN_URL, "MariaDB/MySQL", "`")
    )
    for url in _fresh_database(admin, what, quote):
        build_all(url)
        yield url


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """``make_client(url, token=..., limits=...)``: a TestClient of a fresh app; closed afterwards."""
    made: list[TestClient] = []

    def make(url: str, *, token: str | None = TOKEN, limits: Limits | None = None) -> TestClient:
        client = TestClient(create_app(url, token=token, limits=limits), raise_server_exceptions=False)
        made.append(client)
        return client

    yield make
    for c in made:
        c.app.state.sweepdoctor.close()  # type: ignore[attr-defined]
        c.close()
