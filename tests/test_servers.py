from sqlalchemy import create_engine, text


def _count(url: str, sql: str) -> int:
    e = create_engine(url)
    with e.connect() as c:
        n = int(c.execute(text(sql)).scalar_one())
    e.dispose()
    return n


def test_postgres_fixture_gives_a_fresh_database(pg_url: str) -> None:
    assert _count(pg_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == 0


def test_mysql_fixture_gives_a_fresh_database(mysql_url: str) -> None:
    assert _count(mysql_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()") == 0
