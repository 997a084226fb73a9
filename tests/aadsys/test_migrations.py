"""The schema comes only from alembic: from empty to head, in step with the tables, and back down."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import aadsys.core.tables  # noqa: F401  (registers the tables)
import connector.tables  # noqa: F401  (registers the connector's tables)
from aadsys.core.db import alembic_config, migrate, schema_heads
from aadsys.extensions import migration_branches
from aas_models import Owner, render_instance
from tests.aadsys.conftest import order

STORED = render_instance("sales-order", order("SO-1"), Owner("pec", "https://pec.example"))

CORE_TABLES = {"asset_types", "instances", "submodels", "files", "api_keys", "inbox", "audit_log"}
CONNECTOR_TABLES = {"outbox", "subscriptions", "history_jobs", "links", "leases", "channel_nonces"}


def _tables(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _differences(database_url: str, names: set[str]) -> list[object]:
    """What alembic's autogenerate finds between the database and the tables ``names`` of the metadata."""
    wanted = sa.MetaData()
    for name in names:
        SQLModel.metadata.tables[name].to_metadata(wanted)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), wanted))
    finally:
        engine.dispose()


def test_the_core_migrates_on_its_own_to_exactly_its_tables_and_downgrade_removes_them(database_url: str) -> None:
    """An AAdSys without the connector: the core's branch alone."""
    migrate(database_url)

    assert _tables(database_url) == CORE_TABLES
    assert _differences(database_url, CORE_TABLES) == []
    command.downgrade(alembic_config(database_url), "base")
    assert _tables(database_url) == set()


def test_the_connectors_branch_adds_its_tables_beside_the_core_and_downgrades_with_it(database_url: str) -> None:
    migrate(database_url, branches=migration_branches())

    assert _tables(database_url) == CORE_TABLES | CONNECTOR_TABLES
    assert _differences(database_url, CORE_TABLES | CONNECTOR_TABLES) == []
    command.downgrade(alembic_config(database_url, migration_branches()), "base")
    assert _tables(database_url) == set()


def test_a_database_whose_core_once_made_the_connectors_tables_keeps_them_and_their_rows(database_url: str) -> None:
    """Before the connector owned its schema, the core's first revisions made its four tables; the connector's
    first revision adopts them, rows and all, instead of failing on tables that exist."""
    migrate(database_url)
    engine = sa.create_engine(database_url)
    try:
        adopted = sorted(CONNECTOR_TABLES - {"leases", "channel_nonces"})  # later, from the connector's own branch
        SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables[n] for n in adopted])
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO history_jobs (subscription_id, role, state, range_from, range_to, "
                                 "started_at, updated_at) VALUES ('sub-1', 'consumer', 'finished', CURRENT_TIMESTAMP, "
                                 "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        migrate(database_url, branches=migration_branches())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT subscription_id FROM history_jobs")).scalar_one() == "sub-1"
            assert set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()) == schema_heads(
                migration_branches())
    finally:
        engine.dispose()


def test_records_stored_before_the_connector_keep_their_content_and_become_own(database_url: str) -> None:
    """Migration 0002 carries existing instances: they become this AAdSys's own (origin '')."""
    migrate(database_url, "0001")
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO asset_types (slug, name, description, key_field, versioned, "
                                 "type_shell_id, type_environment, registered_at) VALUES ('sales-order', 'SO', '', "
                                 "'orderId', false, 'x', :env, CURRENT_TIMESTAMP)"), {"env": b"{}"})
            conn.execute(sa.text("INSERT INTO instances (asset_type, instance_key, revision, is_latest, created_at, "
                                 "sha256, shell_id, aas_json) VALUES ('sales-order', 'SO-1', 1, true, "
                                 "CURRENT_TIMESTAMP, 'abc', 'shell', :j)"), {"j": STORED.aas_json})
        migrate(database_url)
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT origin, instance_key, aas_json FROM instances")).one()
        assert (row.origin, row.instance_key, bytes(row.aas_json)) == ("", "SO-1", STORED.aas_json)
    finally:
        engine.dispose()


def test_stored_parts_are_filled_for_every_record_as_ingest_writes_them(database_url: str) -> None:
    """Migration 0004 carries existing instances: business JSON, ValueOnly forms and spans, as ``insert_instance``
    writes them today, for every asset type, for a record with non-ASCII text, and for each revision."""
    from aadsys.core.asset_types import register_asset_types
    from aadsys.core.db import Database
    from aadsys.core.parts import Spans
    from tests.aas_models.records import RECORDS

    owner = Owner("pec", "https://pec.example")
    status = RECORDS["sales-order-status"]
    rendered = [render_instance("sales-order", order("SO-7", items=[{**order("x")["items"][0],
                                                                     "labelText": "Grüße, Jürgen ☀"}]), owner),
                render_instance("juice-product", RECORDS["juice-product"], owner),
                render_instance("sales-order-status", status, owner, revision=1),
                render_instance("sales-order-status", {**status, "status": "completed"}, owner, revision=2)]
    migrate(database_url, "0003")
    db = Database(database_url)
    register_asset_types(db, owner)
    db.dispose()
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            for n, r in enumerate(rendered, start=1):
                conn.execute(sa.text(
                    "INSERT INTO instances (id, asset_type, instance_key, revision, is_latest, created_at, sha256, "
                    "shell_id, shell_id_short, global_asset_id, aas_json, origin) VALUES (:id, :t, :k, :rev, :latest, "
                    "CURRENT_TIMESTAMP, :sha, :shell, :short, :global, :j, '')"),
                    {"id": n, "t": r.asset_type, "k": r.key, "rev": r.revision, "latest": n != 3, "sha": r.sha256,
                     "shell": r.shell_id, "short": r.shell_id_short, "global": r.global_asset_id, "j": r.aas_json})
                if r.revision == 1:
                    for sm in r.submodels:
                        conn.execute(sa.text(
                            "INSERT INTO submodels (submodel_id, shell_id, asset_type, instance_key, semantic_id, "
                            "id_short, first_seen) VALUES (:id, :shell, :t, :k, :sem, :short, :first)"),
                            {"id": sm.id, "shell": r.shell_id, "t": r.asset_type, "k": r.key,
                             "sem": sm.semantic_id, "short": sm.id_short, "first": n})
        migrate(database_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT business_json, value_json, spans FROM instances ORDER BY id")).all()
            positions = dict(conn.execute(sa.text("SELECT submodel_id, position FROM submodels")).all())
        for r, row in zip(rendered, rows, strict=True):
            assert bytes(row.business_json) == r.business_bytes
            assert bytes(row.value_json) == r.value_json[0]
            assert row.spans == Spans.of(r).format()
        assert {sm.id: n for r in rendered for n, sm in enumerate(r.submodels)} == positions
        assert len({p for p in positions.values()}) == 3  # the juice product's three submodels
    finally:
        engine.dispose()


def test_records_that_linked_files_by_route_name_them_by_digest_as_ingest_writes_them(database_url: str) -> None:
    """Migration 0005: a record stored when a File's value was the gateway's route (``/api/v1/files/<hex>``) is
    rewritten as ingest writes it today (bytes, ValueOnly forms, spans, sha256), its inbox row follows, a record
    without files is left alone, and downgrade gives back what 0004 held."""
    from aadsys.core.asset_types import register_asset_types
    from aadsys.core.db import Database
    from aadsys.core.parts import Spans

    owner = Owner("omis", "https://omis.example")
    labelled = [{**order("x")["items"][0], "labelText": f"Grüße {n} ☀",
                 "labelImage": {"sha256": f"{n:x}" * 64, "contentType": "image/png"}} for n in range(1, 4)]
    rendered = [render_instance("sales-order", order("SO-8", items=labelled, total="77.40"), owner),
                render_instance("sales-order", order("SO-9"), owner)]
    assert rendered[0].file_digests and not rendered[1].file_digests
    migrate(database_url, "0003")
    db = Database(database_url)
    register_asset_types(db, owner)
    db.dispose()
    engine = sa.create_engine(database_url)
    read = sa.text("SELECT i.aas_json, i.value_json, i.spans, i.sha256, i.business_json, b.sha256 AS inbox_sha256 "
                   "FROM instances i JOIN inbox b ON b.instance_id = i.id ORDER BY i.id")
    try:
        with engine.begin() as conn:
            for n, r in enumerate(rendered, start=1):
                then = r.aas_json.replace(b"nih:sha-256;", b"/api/v1/files/")
                conn.execute(sa.text(
                    "INSERT INTO instances (id, asset_type, instance_key, revision, is_latest, created_at, sha256, "
                    "shell_id, shell_id_short, global_asset_id, aas_json, origin) VALUES (:id, :t, :k, 1, true, "
                    "CURRENT_TIMESTAMP, :sha, :shell, :short, :global, :j, 'pec')"),
                    {"id": n, "t": r.asset_type, "k": r.key, "sha": hashlib.sha256(then).hexdigest(),
                     "shell": r.shell_id, "short": r.shell_id_short, "global": r.global_asset_id, "j": then})
                conn.execute(sa.text(
                    "INSERT INTO inbox (subscription_id, provider_org, seq, asset_type, instance_key, sha256, "
                    "instance_id, received_at) VALUES ('sub-1', 'pec', :n, :t, :k, :sha, :n, CURRENT_TIMESTAMP)"),
                    {"n": n, "t": r.asset_type, "k": r.key, "sha": hashlib.sha256(then).hexdigest()})
        migrate(database_url, "0004")
        with engine.connect() as conn:
            before = [tuple(row) for row in conn.execute(read).all()]
        assert b"/api/v1/files/" in before[0][0]
        migrate(database_url)
        with engine.connect() as conn:
            rows = conn.execute(read).all()
        for r, row in zip(rendered, rows, strict=True):
            assert (bytes(row.aas_json), bytes(row.value_json), row.spans, row.sha256, bytes(row.business_json),
                    row.inbox_sha256) == (r.aas_json, r.value_json[0], Spans.of(r).format(), r.sha256,
                                          r.business_bytes, r.sha256)
        assert tuple(rows[1]) == before[1]  # no files: untouched
        command.downgrade(alembic_config(database_url), "0004")
        with engine.connect() as conn:
            assert [tuple(row) for row in conn.execute(read).all()] == before
    finally:
        engine.dispose()
