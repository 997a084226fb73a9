"""signing keys encrypted at rest: private_key_pem becomes encrypted_private_key

The migration only renames the column: it has no key-encryption key. The portal encrypts keys that are
still plaintext PEM on its next start with the KEK (``abm_portal.cli.prepare``,
``signing_keys.encrypt_plaintext_keys``).
A downgrade needs the keys decrypted first, which only the portal can do; it refuses while any key is encrypted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.alter_column("private_key_pem", new_column_name="encrypted_private_key", existing_type=sa.Text(),
                           existing_nullable=False)


def downgrade() -> None:
    encrypted = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM signing_keys WHERE encrypted_private_key NOT LIKE '-----BEGIN%'")).scalar()
    if encrypted:
        raise RuntimeError("The signing keys are encrypted with the portal's key-encryption key; revision 0003 "
                           "keeps them as plaintext PEM. Rotate to new keys after the downgrade instead: delete "
                           "the rows of signing_keys first (tokens signed so far stop verifying).")
    with op.batch_alter_table("signing_keys") as batch:
        batch.alter_column("encrypted_private_key", new_column_name="private_key_pem", existing_type=sa.Text(),
                           existing_nullable=False)
