from sqlalchemy import create_engine, text


def test_postgres_fixture_gives_a_fresh_database(pg_url: str) -> None:
    e = create_engine(pg_url)
    with e.connect() as c:
        assert c.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")).scalar() == 0
    e.dispose()


def test_mysql_fixture_gives_a_fresh_database(mysql_url: str) -> None:
    e = create_engine(mysql_url)
    with e.connect() as c:
        assert c.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema=DATABASE()")).scalar() == 0
    e.dispose()
