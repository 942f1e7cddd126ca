"""Hold every difference between SQLite and PostgreSQL the sync relies on, each named.

The other steps say what they want (a bulk insert, an upsert, a scan, statistics); this
module says how each database does it cheaply. SQLite is the usual single-server
install (one writer at a time, no statistics unless asked); PostgreSQL plans from
statistics, checks foreign keys always, and takes rows in by ``COPY``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import orjson
from sqlalchemy import any_, bindparam, case, delete, func, insert, literal, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sisapp.sync.batches import batched

logger = logging.getLogger(__name__)


def is_sqlite(conn) -> bool:
    return conn.dialect.name == "sqlite"


# --- the run's connection ---------------------------------------------------------------


def skip_foreign_key_checks(conn) -> None:
    """SQLite only: foreign keys are not checked on the run's connection.

    Every row the apply writes is derived, inside its transaction, from rows that
    transaction reads (classrooms it just wrote, directory users it just matched), and
    SQLite lets no other writer commit between those reads and the apply's first write
    (a stale snapshot cannot take the write lock). So the checks could never fail, yet
    they cost a parent lookup per row. The apply deletes a classroom's members itself
    before the classroom, so no cascade is needed. ``tests/sync/test_integrity.py`` runs
    SQLite's ``foreign_key_check`` after syncs of every kind. PostgreSQL keeps its checks
    (they cannot be switched off per session). The connection is closed after the run
    (``release_run_connection``), so the setting dies with it.
    """
    if not is_sqlite(conn):
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("PRAGMA foreign_keys=OFF did not take effect (inside a transaction?)")


def release_run_connection(conn, drop_staging: Callable[[object], None]) -> None:
    """Give the run's connection up without its staging tables.

    SQLite: closed, not pooled: its temporary tables and foreign-key setting go with it,
    at once (cheaper than dropping the tables). PostgreSQL: the staging tables are
    dropped and the connection goes back to the pool, unless that fails: then it is
    discarded."""
    if not is_sqlite(conn):
        try:
            conn.rollback()
            drop_staging(conn)
            conn.commit()
            conn.close()
            return
        except Exception:  # noqa: BLE001 - the run's own outcome is what gets reported
            logger.warning("could not drop the staging tables; discarding the connection")
    conn.invalidate()
    conn.close()


def apply_blocks_writers(conn) -> bool:
    """Whether the apply transaction keeps every other writer out until it commits
    (SQLite's single write lock): progress writes then wait for the commit."""
    return is_sqlite(conn)


def merges_while_reading(conn) -> bool:
    """Whether a full read may start the apply's transaction as it goes (the mirror's
    merge while reading): only where that keeps no other writer out for the read's
    hours (not SQLite's write lock)."""
    return not apply_blocks_writers(conn)


def keep_transaction_open(conn) -> None:
    """PostgreSQL: this transaction is not ended for being idle, whatever the server's
    ``idle_in_transaction_session_timeout``: a merge while reading leaves it open while
    pages of a slow SIS arrive (minutes between two statements). Until it ends only."""
    if not is_sqlite(conn):
        conn.exec_driver_sql("SET LOCAL idle_in_transaction_session_timeout = 0")


def plan_for_few_rows(conn) -> None:
    """PostgreSQL only: for the rest of the transaction, price a random page read at 1.1
    sequential ones instead of the default 4 (made for spinning disks), so that a delta's
    lookups of a few thousand keys in tables of hundreds of thousands of rows, which the
    full sync has just written and the server holds in memory, use the unique indexes.

    At the default the planner read all 373,000 enrollments of a 50,000-student district
    to find the 3,700 a delta staged (twice per delta, 0.15 s each, against 0.05 s by the
    index). Only a delta's apply asks for it: the full sync joins whole tables, where
    reading them in order is right whatever a page costs. SQLite has no cost settings."""
    if not is_sqlite(conn):
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")


def analyze(conn, *tables: str) -> None:
    """PostgreSQL only: fresh planner statistics of ``tables``, the transaction's own
    uncommitted rows included (autovacuum has not seen them, nor ever sees a session's
    temporary tables, so the planner would guess and may pick a quadratic plan).
    SQLite's planner works without statistics for these statements."""
    if not is_sqlite(conn):
        conn.exec_driver_sql("ANALYZE " + ", ".join(tables))


# --- staging rows in bulk ---------------------------------------------------------------


def bulk_rows_job(conn, table: str, columns: tuple[str, ...]):
    """``job(rows)`` makes a function of a DBAPI cursor inserting the row tuples (in
    ``columns`` order) into ``table``.

    Both keep the GIL-bound part of an insert (binding each value) out of the
    interpreter, since the sync's read is bound by the GIL. SQLite gets each batch as one
    JSON array bound as one parameter (``orjson`` writes it in C, dates as ISO text, as
    SQLAlchemy's SQLite Date stores them) and unpacks it inside one statement with its
    built-in JSON functions. PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg writes the
    rows in C).
    """
    names = ", ".join(columns)
    if is_sqlite(conn):
        values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        sql = f"INSERT INTO {table} ({names}) SELECT {values} FROM json_each(?)"

        def json_job(rows: list[tuple]):
            return lambda cursor: cursor.execute(sql, (orjson.dumps(rows).decode(),))

        return json_job

    sql = f"COPY {table} ({names}) FROM STDIN"

    def copy_job(rows: list[tuple]):
        def copy(cursor) -> None:
            with cursor.copy(sql) as stream:
                for row in rows:
                    stream.write_row(row)

        return copy

    return copy_job


def insert_rows(conn, table, rows: list[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` inside the caller's
    transaction: ``COPY`` on PostgreSQL, where an executemany costs a round of binding
    per row (a 50,000-student first sync's links took 2 s that way), an executemany on
    SQLite, where binding is already cheap."""
    if not rows:
        return
    if is_sqlite(conn):
        conn.execute(insert(table), rows)
        return
    columns = tuple(rows[0])
    copy = bulk_rows_job(conn, getattr(table, "__table__", table).name, columns)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        copy([tuple(row[c] for c in columns) for row in rows])(cursor)
    finally:
        cursor.close()


# --- reading the mirror -----------------------------------------------------------------


def among(conn, column, values: Iterable) -> Iterator:
    """Conditions ``column IN values``, as many as the database needs; a statement is run
    once per condition (none when ``values`` is empty).

    PostgreSQL: one ``column = ANY(array)``, a single parameter however many values. An
    ``IN`` list binds a parameter per value, and the 500-value lists SQLite needs made
    PostgreSQL parse and plan a new statement every 500 ids: at 3,400 users the stored
    memberships took 0.47 s in IN lists of 500 and 0.12 s in one array. SQLite (no
    arrays, a bound on parameters): ``IN`` lists of ``IDS`` values.
    """
    values = list(values)
    if not values:
        return
    if is_sqlite(conn):
        for chunk in batched(values):
            yield column.in_(chunk)
    else:
        yield column == any_(bindparam(None, values, type_=ARRAY(column.type)))


def rows_among(conn, statement, column, values: Iterable) -> list:
    """The rows of ``statement`` whose ``column`` is one of ``values``, asked as
    ``among`` cuts them (no statement when ``values`` is empty)."""
    rows = []
    for condition in among(conn, column, values):
        rows += conn.execute(statement.where(condition)).all()  # (iterated: a fetch per row)
    return rows


def delete_among(conn, statement, column, values: Iterable) -> None:
    """Run the ``delete`` ``statement`` on the rows whose ``column`` is one of ``values``."""
    for condition in among(conn, column, values):
        conn.execute(statement.where(condition))


def count_and_joined(conn, text, order_by, *where) -> tuple[int, str]:
    """How many rows match ``where``, and their ``text`` joined in ``order_by`` order with
    no separator, built by the database: one row fetched instead of one per row (a
    delta's fingerprint of a 50,000-user directory cost a second of Python stepping the
    cursor row by row)."""
    if is_sqlite(conn):
        # group_concat has no ORDER BY before SQLite 3.44; an ordered subquery under an
        # aggregate is never flattened, so its order is the order concatenated.
        rows = select(text.label("t")).where(*where).order_by(order_by).subquery()
        statement = select(func.count(), func.group_concat(rows.c.t, literal_column("''")))
    else:
        joined = func.string_agg(text, aggregate_order_by(literal_column("''"), order_by))
        statement = select(func.count(), joined).where(*where)
    count, value = conn.execute(statement).one()
    return count, value or ""


def codepoint_order(conn, column):
    """``column`` ordered as Python sorts strings (the SIS order matching relies on):
    PostgreSQL's default collation is language-aware, SQLite's is codepoints."""
    return column if is_sqlite(conn) else column.collate("C")


def equals_for_scan(conn, column, value):
    """``column == value``, written so that SQLite reads the table in order rather than
    through an index when ``value`` holds much of the table.

    SQLite keeps no statistics unless ANALYZE runs, so it always walks an index on such
    a column and looks every row up by rowid, far slower than reading the table in order
    when most rows match. When the value holds at least an eighth of the table (the
    usual SQLite install: one district), the column is hidden from the planner
    (``+ 0``) and the table is scanned; with many tenants the index stays the better
    plan. A value alone in the table is found by two index probes; only with other
    values are the rows counted (two counts of a 373,000-row table cost 40 ms).
    PostgreSQL has statistics and chooses for itself.
    """
    condition = column == value
    if not is_sqlite(conn):
        return condition
    others = [conn.scalar(select(column).where(side).limit(1)) for side in (column < value, column > value)]  # fmt: skip
    if others == [None, None]:  # the only value in the table: two index probes, no count
        return (column + 0) == value
    total = conn.scalar(select(func.count()).select_from(column.table))
    mine = conn.scalar(select(func.count()).where(condition))
    if total and mine * 8 >= total:
        return (column + 0) == value
    return condition


# --- writing derived rows ---------------------------------------------------------------


def insert_from_select_skipping_repeats(conn, table, names: list[str], source) -> None:
    """Insert the rows of ``source``, a row whose unique key is already there skipped
    (SQLite ``OR IGNORE``, PostgreSQL ``ON CONFLICT DO NOTHING``)."""
    if is_sqlite(conn):
        statement = insert(table).prefix_with("OR IGNORE").from_select(names, source)
    else:
        statement = pg_insert(table).from_select(names, source).on_conflict_do_nothing()
    conn.execute(statement)


def copy_last_read(conn, iid: int, mirror, stage, staged, columns, upsert: bool) -> None:
    """Write the last version read of each staged sourcedId into ``mirror`` (upserted
    when ``upsert``, appended into an empty slice otherwise), and remove the records
    whose last version read is a ``tobedeleted`` one. Rows go in sourcedId order, so
    the mirror's unique index grows at its end."""
    if is_sqlite(conn):
        _copy_last_read_sqlite(conn, iid, mirror, stage, staged, columns, upsert)
    else:
        _copy_last_read_postgresql(conn, iid, mirror, stage, staged, columns, upsert)


def _upserting(statement, columns):
    """``statement`` (a dialect insert) updating every column but the key on conflict."""
    return statement.on_conflict_do_update(
        index_elements=["integration_id", "sourced_id"],
        set_={c: statement.excluded[c] for c in columns if c != "sourced_id"},
    )


def _copy_last_read_postgresql(conn, iid: int, mirror, stage, staged, columns, upsert: bool) -> None:  # fmt: skip
    """The last version of each sourcedId in one sort (DISTINCT ON): cheaper than
    grouping first and sorting after."""
    last_read = (
        select(stage.c.active, *(stage.c[c] for c in columns))
        .where(staged)
        .ext(distinct_on(stage.c.sourced_id))
        .order_by(stage.c.sourced_id, stage.c.id.desc())
        .subquery()
    )
    source = select(literal(iid), *(last_read.c[c] for c in columns)).where(
        last_read.c.active.is_(True)
    )
    statement = pg_insert(mirror).from_select(["integration_id", *columns], source)
    conn.execute(_upserting(statement, columns) if upsert else statement)
    if upsert:
        # The few sourcedIds fetched, then deleted by the mirror's key: joined to the
        # mirror in one statement, a merge while reading (a new mirror table, staging
        # without statistics) was planned as a scan of the mirror per staged row.
        gone = conn.scalars(select(last_read.c.sourced_id).where(last_read.c.active.is_(False)))
        delete_among(conn, delete(mirror).where(mirror.integration_id == iid), mirror.sourced_id, gone.all())  # fmt: skip


def _copy_last_read_sqlite(conn, iid: int, mirror, stage, staged, columns, upsert: bool) -> None:  # fmt: skip
    """Every active staged row in (sourcedId, read) order, the later one read of a
    duplicated sourcedId replacing the earlier (``INSERT OR REPLACE`` into an empty
    slice, an upsert otherwise); then the records whose last version read is a
    ``tobedeleted`` one are taken out. Cheaper on SQLite than grouping by sourcedId first.
    """
    source = (
        select(literal(iid), *(stage.c[c] for c in columns))
        .where(staged, stage.c.active.is_(True))
        .order_by(stage.c.sourced_id, stage.c.id)
    )
    names = ["integration_id", *columns]
    if upsert:
        conn.execute(_upserting(sqlite_insert(mirror).from_select(names, source), columns))
    else:
        conn.execute(insert(mirror).prefix_with("OR REPLACE").from_select(names, source))
    if conn.scalar(select(stage.c.id).where(staged, stage.c.active.is_(False)).limit(1)) is None:
        return
    deleted_last = (
        select(stage.c.sourced_id)
        .where(staged)
        .group_by(stage.c.sourced_id)
        .having(func.max(stage.c.id) == func.max(case((stage.c.active.is_(False), stage.c.id))))
    )
    conn.execute(
        delete(mirror).where(mirror.integration_id == iid, mirror.sourced_id.in_(deleted_last))
    )
