"""Row-level replica diff by checksum bisection over hashed-key buckets, on SQLite and PostgreSQL: the rows
found are exactly those a full comparison finds, and a clean pair costs one grouped query a side."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reconcile_pipeline.layers.errors import LayerUnavailable
from reconcile_pipeline.layers.replica_diff import SqlBackend, TableSpec, diff_tables, start_digits
from reconcile_pipeline.sandbox.postgres import create_database, drop_database

TABLE = TableSpec("records", "id", ("id", "owner", "amount", "note"))
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58_key(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(44))


def make_table(url: str, rows: list[tuple]) -> object:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS records"))
        connection.execute(text("CREATE TABLE records (id TEXT PRIMARY KEY, owner TEXT, amount BIGINT, note TEXT)"))
        if rows:
            names = ("id", "owner", "amount", "note")
            connection.execute(text("INSERT INTO records VALUES (:id, :owner, :amount, :note)"),
                               [dict(zip(names, r, strict=True)) for r in rows])  # fmt: skip
    return engine


def world(rng: random.Random, n: int) -> list[tuple]:
    return [(base58_key(rng), f"owner{rng.randrange(50)}", rng.randrange(10**12), rng.choice(["", None, "memo"]))
            for _ in range(n)]  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path) -> tuple[str, str]:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{tmp_path / 'replica.db'}"
    first = make_url(request.getfixturevalue("pg_db_url"))
    admin, name = first.set(database="postgres").render_as_string(hide_password=False), first.database + "_r"
    create_database(admin, name)  # a second fresh database on the same server
    request.addfinalizer(lambda: drop_database(admin, name))
    return first.render_as_string(hide_password=False), first.set(database=name).render_as_string(hide_password=False)


def run_diff(urls: tuple[str, str], primary_rows: list[tuple], replica_rows: list[tuple], **kwargs: object):  # noqa: ANN201
    primary = SqlBackend(make_table(urls[0], primary_rows), TABLE, layer="primary")
    replica = SqlBackend(make_table(urls[1], replica_rows), TABLE)
    return diff_tables(primary, replica, **kwargs)


def test_clean_pair_costs_one_grouped_query_a_side(two_urls: tuple[str, str]) -> None:
    rows = world(random.Random(1), 3000)
    primary = SqlBackend(make_table(two_urls[0], rows), TABLE, layer="primary")
    replica = SqlBackend(make_table(two_urls[1], list(reversed(rows))), TABLE)
    diff = diff_tables(primary, replica)
    assert diff.clean and diff.rows_shipped == 0
    assert replica.queries == 1 and primary.queries <= 3  # + the row count (an estimate, then count(*) if none)


def test_exact_rows_found(two_urls: tuple[str, str]) -> None:
    rng = random.Random(2)
    primary = world(rng, 3000)
    replica = [list(r) for r in primary]
    replica[20][2] += 1  # amount changed
    replica[30][3] = "" if replica[30][3] is None else None  # NULL and '' are different values
    replica[40][1], replica[40][3] = "someone else", "x" if replica[40][3] != "x" else "y"  # two columns
    del replica[10]  # missing
    replica.append([base58_key(rng), "intruder", 1, None])  # extra
    diff = run_diff(two_urls, primary, [tuple(r) for r in replica])
    assert diff.missing == [primary[10][0]] and diff.extra == [replica[-1][0]]
    assert diff.different == {primary[20][0]: ["amount"], primary[30][0]: ["note"], primary[40][0]: ["owner", "note"]}
    assert diff.rows_shipped < 3000 / 10  # the differing buckets' rows, not the tables


def test_many_differences_against_a_full_comparison(two_urls: tuple[str, str]) -> None:
    rng = random.Random(3)
    primary = world(rng, 2000)
    replica = {r[0]: list(r) for r in primary}
    for key in rng.sample(sorted(replica), 150):
        replica[key][2] += 7
    for key in rng.sample(sorted(replica), 40):
        del replica[key]
    diff = run_diff(two_urls, primary, [tuple(r) for r in replica.values()])
    expected_changed = {r[0] for r in primary if r[0] in replica and tuple(replica[r[0]]) != r}
    assert set(diff.different) == expected_changed and len(diff.missing) == 40 and not diff.extra


def test_large_differing_buckets_are_split_further(two_urls: tuple[str, str]) -> None:
    rng = random.Random(4)
    primary = world(rng, 1500)
    replica = [list(r) for r in primary]
    replica[5][2] = -1
    diff = run_diff(two_urls, primary, [tuple(r) for r in replica], fetch_threshold=2)
    assert diff.different == {primary[5][0]: ["amount"]} and diff.rows_shipped <= 4


def test_empty_replica_lists_every_row_missing(two_urls: tuple[str, str]) -> None:
    primary = world(random.Random(5), 300)
    diff = run_diff(two_urls, primary, [])
    assert sorted(diff.missing) == sorted(r[0] for r in primary) and not diff.extra and not diff.different


def test_start_digits_aim_at_sixteen_rows_a_bucket() -> None:
    assert [start_digits(n) for n in (0, 10, 16 * 16, 1_000_000, 10**12)] == [1, 1, 1, 4, 9]


def test_an_unreachable_replica_is_unavailable(tmp_path) -> None:  # noqa: ANN001
    primary = SqlBackend(make_table(f"sqlite:///{tmp_path / 'p.db'}", world(random.Random(6), 10)), TABLE)
    gone = SqlBackend(create_engine(f"sqlite:///{tmp_path / 'nowhere' / 'r.db'}"), TABLE)
    with pytest.raises(LayerUnavailable):
        diff_tables(primary, gone)
