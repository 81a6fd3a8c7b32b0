"""The replica diff against reladiff (issue 19, item 4): the same pair of PostgreSQL databases, one run.

A throwaway cluster holds a primary and a replica table of ``--replica-rows`` rows keyed by base58 strings
(44 characters, as Solana addresses). For each count of differing rows (0, 1, 1,000: a third missing, a third
extra, a third with one column changed) the replica is rebuilt from the primary and changed, then both tools
diff it against the primary: our checksum bisection over hashed-key buckets (``layers/replica_diff``) and
reladiff's key-range HASHDIFF (defaults: bisection factor 32, threshold 16384). Each figure is the wall time
of that tool's whole diff, end to end; both must find the same rows. Target: ours at most reladiff's time at
each count.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import subprocess
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reconcile_pipeline.layers.multibase import encode_base58btc
from reconcile_pipeline.layers.replica_diff import SqlBackend, TableSpec, diff_tables
from reconcile_pipeline.sandbox.postgres import ThrowawayCluster, create_database, server_bin_dir

from .results import log, write_result

TABLE = TableSpec("records", "id", ("id", "owner", "amount", "note"))
DDL = "CREATE TABLE records (id TEXT PRIMARY KEY, owner TEXT NOT NULL, amount BIGINT NOT NULL, note TEXT)"


def _key(i: int) -> str:
    return encode_base58btc(hashlib.sha256(i.to_bytes(8, "big")).digest())[:44]


def _load(url: str, rows: int) -> None:
    buffer, null = io.StringIO(), "\\N"
    for i in range(rows):
        buffer.write(f"{_key(i)}\towner{i % 977}\t{i * 7919 % 10**9}\t{'memo' if i % 3 else null}\n")
    buffer.seek(0)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS records"))
        connection.execute(text(DDL))
        connection.connection.cursor().copy_expert("COPY records FROM STDIN", buffer)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE records"))
    engine.dispose()


def _change(url: str, rows: int, count: int, seed: int) -> dict[str, set[str]]:
    rng = random.Random(seed)
    picked = rng.sample(range(rows), count)
    missing, changed = [_key(i) for i in picked[: count // 3]], [_key(i) for i in picked[count // 3 :]]
    extra = [_key(rows + 1 + i) for i in range(count // 3)]
    changed = changed[: count - len(missing) - len(extra)]
    engine = create_engine(url)
    with engine.begin() as connection:
        if missing:
            connection.execute(text("DELETE FROM records WHERE id = ANY(:k)"), {"k": missing})
        if changed:
            connection.execute(text("UPDATE records SET amount = amount + 1 WHERE id = ANY(:k)"), {"k": changed})
        for key in extra:
            connection.execute(text("INSERT INTO records VALUES (:k, 'intruder', 1, NULL)"), {"k": key})
    engine.dispose()
    return {"missing": set(missing), "extra": set(extra), "different": set(changed)}


def _ours(primary_url: str, replica_url: str) -> tuple[float, dict[str, set[str]], dict]:
    started = time.perf_counter()
    primary, replica = create_engine(primary_url), create_engine(replica_url)
    diff = diff_tables(SqlBackend(primary, TABLE, layer="primary"), SqlBackend(replica, TABLE))
    wall = time.perf_counter() - started
    primary.dispose(), replica.dispose()
    found = {"missing": set(diff.missing), "extra": set(diff.extra), "different": set(diff.different)}
    return wall, found, {"queries": diff.queries, "rows_shipped": diff.rows_shipped}


_RELADIFF_CHILD = """
import json, sys, time
from reladiff import connect_to_table, diff_tables
started = time.perf_counter()
tables = [connect_to_table(url, "records", "id", extra_columns=("owner", "amount", "note")) for url in sys.argv[1:3]]
with diff_tables(*tables, algorithm="hashdiff") as diff:
    signs = [(sign, row[0]) for sign, row in diff]
wall = time.perf_counter() - started
print(json.dumps({"wall_s": wall, "signs": signs}))
"""


def _reladiff(primary_url: str, replica_url: str) -> tuple[float, dict[str, set[str]]]:
    """reladiff in a child process: it installs a process-wide psycopg2 wait callback (and keeps connections
    open), which must not touch our loads. The figure is measured in the child around connect and diff."""

    def plain(url: str) -> str:
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    done = subprocess.run([sys.executable, "-c", _RELADIFF_CHILD, plain(primary_url), plain(replica_url)],
                          capture_output=True, text=True, check=True, timeout=3600)  # fmt: skip
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    signs = answer["signs"]
    minus, plus = {k for s, k in signs if s == "-"}, {k for s, k in signs if s == "+"}
    return answer["wall_s"], {"missing": minus - plus, "extra": plus - minus, "different": minus & plus}


def _case(urls: tuple[str, str], rows: int, count: int) -> dict:
    _load(urls[1], rows)
    truth = _change(urls[1], rows, count, seed=count)
    ours_s, ours, detail = _ours(*urls)
    reladiff_s, theirs = _reladiff(*urls)
    log(f"  {count} differing rows: ours {ours_s:.2f} s ({detail}), reladiff {reladiff_s:.2f} s")
    return {
        "differing_rows": count,
        "ours_wall_s": round(ours_s, 3),
        "reladiff_wall_s": round(reladiff_s, 3),
        "ours_vs_reladiff": round(ours_s / reladiff_s, 3),
        "ours_exact": ours == truth,
        "same_rows_as_reladiff": ours == theirs,
        **detail,
    }


def judge(cases: list[dict], rows: int) -> dict:
    return {
        f"replica_diff_{rows}_rows_{case['differing_rows']}_differing": {
            "value": f"{case['ours_wall_s']} s vs reladiff {case['reladiff_wall_s']} s",
            "bound": "<= reladiff, same rows",
            "met": case["ours_wall_s"] <= case["reladiff_wall_s"] and case["same_rows_as_reladiff"]
            and case["ours_exact"],
        }
        for case in cases
    }  # fmt: skip


def run_replicas_suite(args: argparse.Namespace) -> dict:
    rows, counts = args.replica_rows, [int(c) for c in args.replica_differences.split(",")]
    bin_dir = server_bin_dir()
    if bin_dir is None:
        raise SystemExit("bench replicas: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    cluster = ThrowawayCluster(bin_dir, {"shared_buffers": "'512MB'", "work_mem": "'64MB'"})
    try:
        server = make_url(cluster.start())
        for name in ("primary_db", "replica_db"):
            create_database(server.render_as_string(hide_password=False), name)
        urls = tuple(server.set(database=n).render_as_string(hide_password=False) for n in ("primary_db", "replica_db"))
        log(f"replicas: loading {rows} rows ...")
        _load(urls[0], rows)
        cases = [_case(urls, rows, count) for count in counts]
    finally:
        cluster.stop()
    payload = {"result": {"rows": rows, "cases": cases}, "targets": judge(cases, rows)}
    path = write_result(args.results, "replicas", payload)
    log(f"targets: {payload['targets']}\nwritten {path}")
    return payload
