"""The SQLite/PostgreSQL choices of ``sisapp.sync.dialect`` that decide a statement's shape."""

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from sisapp.sync import dialect


def _sql(clause) -> str:
    return str(clause.compile(compile_kwargs={"literal_binds": True}))


def test_sqlite_scans_for_a_value_that_holds_much_of_the_table():
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("k", Integer, index=True))
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(insert(table), [{"k": 1}] * 20)
        assert _sql(dialect.equals_for_scan(conn, table.c.k, 1)) == "t.k + 0 = 1"  # alone
        conn.execute(insert(table), [{"k": 2}] * 200)
        assert _sql(dialect.equals_for_scan(conn, table.c.k, 1)) == "t.k = 1"  # 20 of 220
        assert _sql(dialect.equals_for_scan(conn, table.c.k, 2)) == "t.k + 0 = 2"
        conn.execute(insert(table), [{"k": 0}] * 5)  # a smaller value too
        assert _sql(dialect.equals_for_scan(conn, table.c.k, 2)) == "t.k + 0 = 2"
        assert _sql(dialect.equals_for_scan(conn, table.c.k, 0)) == "t.k = 0"


def test_among_cuts_sqlite_lists_and_gives_postgresql_one_array():
    engine = create_engine("sqlite://")
    table = Table("u", MetaData(), Column("s", String))
    with engine.begin() as conn:
        table.create(conn)
        values = [f"v{n:04d}" for n in range(1203)]
        conn.execute(insert(table), [{"s": v} for v in values + ["other"]])
        clauses = list(dialect.among(conn, table.c.s, values))
        assert len(clauses) == 3  # lists of 500 values at most
        found = [s for clause in clauses for s in conn.scalars(select(table.c.s).where(clause))]
        assert sorted(found) == values
        assert list(dialect.among(conn, table.c.s, [])) == []
