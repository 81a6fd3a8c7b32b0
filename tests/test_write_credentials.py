"""Repairs write with credentials of their own; the snapshots read with theirs (issue 9, item 5).

- Unit: the write clients take ``[repairs]`` credentials and fall back to the read ones; the R2 pair is whole.
- PostgreSQL: a role that may only read the platform's tables (it writes the pipeline's own: findings, audit,
  ledger) runs the reconciliation; a writer role, the only one allowed to write minting_operations, makes
  the DB repairs (a trigger records ``session_user`` for every write). A repair attempted with the read
  role fails cleanly: a LayerError recorded in the ledger (``unauthorized``, not counted), nothing written.
- KV, R2, Pinata: the local servers are given scoped credentials (the world's own become read-only, a second
  token may write); the snapshots and the repairs' reads present the read credentials, every repair write
  the write ones, and with only the read credentials every write is refused and nothing changes.
"""

from __future__ import annotations

import secrets

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reconcile_pipeline import clients
from reconcile_pipeline.layers.database import DatabaseClient
from reconcile_pipeline.layers.errors import LayerAuthError
from reconcile_pipeline.recording import record_findings
from reconcile_pipeline.repairs.apply import apply_plan
from reconcile_pipeline.repairs.current import judge_now
from reconcile_pipeline.repairs.plan import build_plan
from reconcile_pipeline.sandbox.s3 import ACCESS_KEY_ID
from reconcile_pipeline.settings import Settings
from tests.test_crash_support import OBSERVER, Effects, layer_state, ledger_rows, queue_rows
from tests.worldkit import expected_findings, finding_keys, running_world

PIPELINE_TABLES = ("findings", "consistency_checks", "run_history", "verification_state", "alerts",
                   "automation_cursors", "repair_ledger", "manual_review_queue")  # fmt: skip


def with_repairs(settings: Settings, **credentials: str) -> Settings:
    repairs = settings.repairs.model_copy(update={k: SecretStr(v) for k, v in credentials.items()})
    return settings.model_copy(update={"repairs": repairs})


def with_database(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"database": settings.database.model_copy(update={"url": SecretStr(url)})})


# -- unit ------------------------------------------------------------------------------------------
def test_write_clients_use_the_repairs_credentials_and_fall_back_to_the_read_ones():
    blockstore = {"kv_api_token": "read-kv", "r2_access_key_id": "read-id", "r2_secret_access_key": "read-secret",
                  "r2_endpoint_url": "http://127.0.0.1:9"}  # fmt: skip
    read = Settings(database={"url": "sqlite:///read.db"}, pinata={"jwt": "read-jwt"}, blockstore=blockstore)
    assert clients.separate_write_credentials(read) == {"database": False, "kv": False, "r2": False, "pinata": False}
    assert clients.database_write_client(read).url.database == "read.db"
    assert clients.kv_write_client(read)._headers == {"Authorization": "Bearer read-kv"}
    assert clients.r2_write_client(read)._secrets == ("read-id", "read-secret")
    assert clients.pinata_write_client(read)._jwt.get_secret_value() == "read-jwt"

    both = with_repairs(read, database_url="sqlite:///write.db", kv_write_token="write-kv",
                        pinata_write_jwt="write-jwt", r2_write_access_key_id="write-id",
                        r2_write_secret_access_key="write-secret")  # fmt: skip
    assert clients.separate_write_credentials(both) == {"database": True, "kv": True, "r2": True, "pinata": True}
    assert clients.database_write_client(both).url.database == "write.db"
    assert clients.kv_write_client(both)._headers == {"Authorization": "Bearer write-kv"}
    assert clients.r2_write_client(both)._secrets == ("write-id", "write-secret")
    assert clients.pinata_write_client(both)._jwt.get_secret_value() == "write-jwt"
    # the read clients (snapshots) keep the read credentials
    assert clients.database_client(both).url.database == "read.db"
    assert clients.kv_client(both)._headers == {"Authorization": "Bearer read-kv"}
    assert clients.r2_client(both)._secrets == ("read-id", "read-secret")
    assert clients.pinata_client(both)._jwt.get_secret_value() == "read-jwt"
    assert "write" not in repr(both.repairs).replace("_write_", "")  # SecretStr: printed as **********

    half = with_repairs(read, r2_write_access_key_id="write-id")
    with pytest.raises(ValueError, match="both r2_write_access_key_id and r2_write_secret_access_key") as caught:
        clients.r2_write_client(half)
    assert "write-id" not in str(caught.value)


# -- PostgreSQL roles ---------------------------------------------------------------------------------
ROLE_SQL = """
CREATE ROLE {reader} LOGIN PASSWORD '{password}';
CREATE ROLE {writer} LOGIN PASSWORD '{password}';
GRANT USAGE ON SCHEMA public TO {reader}, {writer};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};
GRANT INSERT, UPDATE, DELETE ON {pipeline} TO {reader};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {reader};
GRANT SELECT, INSERT, UPDATE ON minting_operations TO {writer};
CREATE TABLE write_audit (who text, op text, row_id text);
CREATE FUNCTION log_ops_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS
  $$ BEGIN INSERT INTO write_audit VALUES (session_user, TG_OP, NEW.id); RETURN NEW; END $$;
CREATE TRIGGER ops_write_audit AFTER INSERT OR UPDATE ON minting_operations
  FOR EACH ROW EXECUTE FUNCTION log_ops_write();
"""


class Roles:
    """A read role and a writer role on the test database (roles are cluster-wide: unique names, dropped)."""

    def __init__(self, admin_url: str) -> None:
        suffix = secrets.token_hex(4)
        self.admin_url, self.password = admin_url, secrets.token_hex(12)
        self.reader, self.writer = f"reconcile_read_{suffix}", f"reconcile_repair_{suffix}"
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def url(self, role: str) -> str:
        return make_url(self.admin_url).set(username=role, password=self.password).render_as_string(False)

    def sql(self, statements: str) -> list:
        with self.engine.connect() as conn:
            result = conn.execute(text(statements))
            return list(result) if result.returns_rows else []

    def create(self) -> None:
        self.sql(ROLE_SQL.format(reader=self.reader, writer=self.writer, password=self.password,
                                 pipeline=", ".join(PIPELINE_TABLES)))  # fmt: skip

    def drop(self) -> None:
        for role in (self.reader, self.writer):
            self.sql(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
        self.engine.dispose()

    def writes(self) -> list[tuple[str, str, str]]:
        return [tuple(row) for row in self.sql("SELECT who, op, row_id FROM write_audit ORDER BY row_id, op")]


def ops(url: str) -> list[dict]:
    with DatabaseClient(url) as db:
        return db.read_minting_operations().drop(columns=["updated_at"]).to_dict("records")


@pytest.mark.postgres
def test_postgres_snapshots_read_as_the_read_role_and_repairs_write_as_the_writer(tmp_path, pg_db_url):
    faults = "BLOCKCHAIN_SUCCESS_DATABASE_FAILURE,CHAIN_URI_MISMATCH"
    with running_world(tmp_path, seed=41, nfts=8, blocks=3, faults=faults, db_url=pg_db_url) as (world, loaded):
        roles = Roles(pg_db_url)
        roles.create()
        try:
            read_only = with_database(loaded, roles.url(roles.reader))  # no [repairs] database_url: falls back
            separate = with_repairs(read_only, database_url=roles.url(roles.writer))
            assert clients.separate_write_credentials(separate)["database"]

            # the reconciliation with the read role; the writer may not even log in meanwhile
            roles.sql(f"ALTER ROLE {roles.writer} NOLOGIN")
            judged = judge_now(separate)
            written = record_findings(separate, "run-read-role", "regular", judged.findings, judged.nft, judged.blocks)
            roles.sql(f"ALTER ROLE {roles.writer} LOGIN")
            assert written["audit_written"] is True
            assert finding_keys(judged.findings) == expected_findings(world.manifest())
            with pytest.raises(LayerAuthError, match="permission denied"):  # the read role cannot repair
                with DatabaseClient(roles.url(roles.reader)) as db, db.connect(write=True) as conn:
                    conn.execute(text("UPDATE minting_operations SET status = 'FAILED'"))

            plan = build_plan(judged.findings, judged.nft, judged.blocks, separate)
            db_actions = plan.loc[plan["layer"] == "database", "action_id"].tolist()
            assert len(db_actions) == 3  # a row to create, a status and a URI to update
            before = ops(pg_db_url)

            refused = apply_plan(read_only, plan, execute=True)  # repairs with the read role's credentials
            assert {o["action_id"]: o["result"] for o in refused.outcomes if o["action_id"] in db_actions} == {
                action: "failed" for action in db_actions}  # fmt: skip
            assert ops(pg_db_url) == before and roles.writes() == []  # nothing written, not half
            rows = {row["action_id"]: row for row in ledger_rows(separate)}
            for action in db_actions:
                assert rows[action]["status"] == "failed" and "permission denied" in rows[action]["last_error"]
                assert rows[action]["history"][-1]["event"] == "unauthorized"  # not a counted failure
            assert {q["source"] for q in queue_rows(separate)} <= {"plan"}  # no failure was counted

            repaired = apply_plan(separate, plan, execute=True)
            assert {o["action_id"]: o["result"] for o in repaired.outcomes if o["action_id"] in db_actions} == {
                action: "verified" for action in db_actions}  # fmt: skip
            writes = roles.writes()
            assert {who for who, _, _ in writes} == {roles.writer} and len(writes) == 3
            assert sorted(op for _, op, _ in writes) == ["INSERT", "UPDATE", "UPDATE"]
            left = {check for check, _, _ in finding_keys(judge_now(read_only).findings)}
            assert not left & set(faults.split(","))
        finally:
            roles.drop()


# -- KV, R2, Pinata: scoped credentials on the local servers -------------------------------------------------
def test_kv_r2_and_pinata_repairs_write_with_the_write_credentials_and_reads_keep_the_read_ones(tmp_path):
    faults = "BLOCK_TIER_MISSING,TX_INDEX_INCONSISTENT,PENDING_ALREADY_MINED,IPFS_NOT_PINNED"
    with running_world(tmp_path, seed=43, nfts=8, blocks=10, faults=faults) as (world, settings):
        servers, effects = world.servers, Effects().install(world)
        write = {"kv_write_token": "kv-write-" + secrets.token_hex(8), "r2_write_access_key_id": "r2-write-id",
                 "pinata_write_jwt": "pin-" + secrets.token_hex(8),
                 "r2_write_secret_access_key": secrets.token_hex(8)}  # fmt: skip
        effects.scope("kv", servers.kv_token, write["kv_write_token"], servers.kv_token)
        effects.scope("pinata", servers.pinata_jwt, write["pinata_write_jwt"], servers.pinata_jwt)
        effects.scope("r2", ACCESS_KEY_ID)
        separate = with_repairs(settings, **write)

        judged = judge_now(settings)
        plan = build_plan(judged.findings, judged.nft, judged.blocks, settings)
        assert set(plan.loc[plan["repair"] != "MANUAL_REVIEW", "layer"]) == {"blockstore", "r2", "kv", "ipfs"}
        approve = plan.loc[plan["destructive"], "action_id"].tolist()
        before = layer_state(world, settings)

        refused = apply_plan(settings, plan, execute=True, approve=approve)  # the read credentials only
        assert effects.write_counts() == {} and layer_state(world, settings) == before
        automatic = [o for o in refused.outcomes if o["repair"] != "MANUAL_REVIEW"]
        assert {o["result"] for o in automatic} == {"failed"}
        events = {row["action_id"]: row["history"][-1]["event"] for row in ledger_rows(settings)}
        assert set(events.values()) == {"unauthorized"}

        repaired = apply_plan(separate, plan, execute=True, approve=approve)
        assert {o["result"] for o in repaired.outcomes if o["repair"] != "MANUAL_REVIEW"} == {"verified"}
        assert {layer for layer, _, _ in effects.write_counts()} == {"kv", "r2", "pinata"}
        after = judge_now(settings)

    assert effects.credentials_used("kv", "write") == {servers.kv_token, write["kv_write_token"]}
    assert effects.credentials_used("pinata", "write") == {servers.pinata_jwt, write["pinata_write_jwt"]}
    assert effects.credentials_used("r2", "write") == {ACCESS_KEY_ID, "r2-write-id"}  # refused, then written
    assert effects.credentials_used("kv", "read") == {servers.kv_token}  # snapshots and the repairs' reads
    assert effects.credentials_used("pinata", "read") == {servers.pinata_jwt}
    assert effects.credentials_used("r2", "read") - {OBSERVER} == {ACCESS_KEY_ID}
    remaining = {check for check, _, _ in finding_keys(after.findings)}
    assert not remaining & {"BLOCK_TIER_MISSING", "TX_INDEX_INCONSISTENT", "PENDING_ALREADY_MINED", "IPFS_NOT_PINNED"}
