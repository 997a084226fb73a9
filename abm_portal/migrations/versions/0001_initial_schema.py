"""initial schema: organisations, identities, signing keys, assets, subscriptions, transfers, revocations, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id(name: str = "id", length: int = 36) -> sa.Column:
    return sa.Column(name, sa.String(length), primary_key=True)


def _ref(name: str, target: str, *, nullable: bool = False, length: int = 36) -> sa.Column:
    return sa.Column(name, sa.String(length), sa.ForeignKey(target), nullable=nullable, index=True)


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int | None = None, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length) if length else sa.Text(), nullable=nullable)


# The audit trail is append-only (DESIGN §6): the database itself refuses to change or delete an entry.
_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
        "CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_entries is append-only'; END $$",
        "CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
    ],
}
_APPEND_ONLY_DOWN = {
    "sqlite": ["DROP TRIGGER audit_entries_no_update", "DROP TRIGGER audit_entries_no_delete"],
    "postgresql": ["DROP TRIGGER audit_entries_no_change ON audit_entries",
                   "DROP FUNCTION audit_entries_append_only()"],
}


def upgrade() -> None:
    op.create_table(
        "organisations",
        _id(),
        _text("name", 200),
        _text("description"),
        _text("endpoint_url", 2000, nullable=True),
        _text("signing_key", 64, nullable=True),
        _text("encryption_key", 64, nullable=True),
        _text("client_id", 64),
        _when("created_at"),
        _when("updated_at"),
        sa.UniqueConstraint("name", name="uq_organisations_name"),
        sa.UniqueConstraint("client_id", name="uq_organisations_client_id"),
    )
    op.create_table(
        "users",
        _id(),
        _text("email", 254),
        _text("password_hash", 200),
        _text("role", 32),
        _ref("org_id", "organisations.id", nullable=True),
        _when("created_at"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "client_secrets",
        _id(),
        _ref("org_id", "organisations.id"),
        _text("secret_sha256", 64),
        _when("created_at"),
        _when("revoked_at", nullable=True),
        sa.UniqueConstraint("secret_sha256", name="uq_client_secrets_secret_sha256"),
    )
    op.create_table(
        "personal_tokens",
        _id(),
        _ref("user_id", "users.id"),
        _text("name", 100),
        _text("token_sha256", 64),
        _when("created_at"),
        _when("last_used_at", nullable=True),
        _when("revoked_at", nullable=True),
        sa.UniqueConstraint("token_sha256", name="uq_personal_tokens_token_sha256"),
    )
    op.create_table(
        "signing_keys",
        _id("kid", 64),
        _text("algorithm", 16),
        _text("private_key_pem"),
        _when("created_at"),
        _when("retired_at", nullable=True),
    )
    op.create_table(
        "assets",
        _id(length=128),
        _ref("org_id", "organisations.id"),
        _text("name", 200),
        _text("description"),
        _text("asset_type", 64),
        sa.Column("semantic_ids", sa.JSON(), nullable=False),
        sa.Column("submodels", sa.JSON(), nullable=False),
        sa.Column("type_shell", sa.JSON(), nullable=True),
        _text("global_asset_id", 2000, nullable=True),
        _text("owner", 64, nullable=True),
        _text("key_field", 64, nullable=True),
        sa.Column("versioned", sa.Boolean(), nullable=True),
        _text("visibility", 16),
        _when("created_at"),
        _when("updated_at"),
        _when("deleted_at", nullable=True),
    )
    # One live publication per organisation and asset type; unpublished ones stay for the subscriptions' sake.
    op.create_index("uq_assets_live_org_type", "assets", ["org_id", "asset_type"], unique=True,
                    sqlite_where=sa.text("deleted_at IS NULL"), postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_table(
        "subscriptions",
        _id(),
        _ref("asset_id", "assets.id", length=128),
        _ref("provider_org_id", "organisations.id"),
        _ref("consumer_org_id", "organisations.id"),
        _text("mode", 16),
        _when("valid_from"),
        _when("valid_to"),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        _text("requested_by", 300),
        _text("decided_by", 300, nullable=True),
        _text("reason", nullable=True),
        _when("created_at"),
        _when("decided_at", nullable=True),
        _when("updated_at"),
    )
    op.create_table(
        "transfer_jobs",
        _id(),
        _ref("subscription_id", "subscriptions.id"),
        _text("state", 16),
        sa.Column("expected_count", sa.Integer(), nullable=True),
        sa.Column("provider_count", sa.Integer(), nullable=True),
        _text("provider_digest", 200, nullable=True),
        sa.Column("consumer_count", sa.Integer(), nullable=True),
        _text("consumer_digest", 200, nullable=True),
        _text("reason", nullable=True),
        _when("created_at"),
        _when("updated_at"),
    )
    op.create_table(
        "revocations",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        _when("at"),
        _ref("subscription_id", "subscriptions.id"),
        sa.Column("provider_org_id", sa.String(36), nullable=False, index=True),
        sa.Column("consumer_org_id", sa.String(36), nullable=False, index=True),
        _text("state", 16),
        _text("reason", nullable=True),
    )
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        _text("actor", 300),
        sa.Column("org_id", sa.String(36), nullable=True, index=True),
        sa.Column("partner_org_id", sa.String(36), nullable=True, index=True),
        _text("action", 64),
        _text("subject", 300),
        _text("before", 64, nullable=True),
        _text("after", 64, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    for statement in _APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in _APPEND_ONLY_DOWN.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    for table in ("audit_entries", "revocations", "transfer_jobs", "subscriptions", "assets", "signing_keys",
                  "personal_tokens", "client_secrets", "users", "organisations"):
        op.drop_table(table)
