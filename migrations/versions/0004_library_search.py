"""Library search at scale: trigram indexes for ILIKE, composite indexes for the list order

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Searched with ILIKE '%term%'; a trigram GIN index answers that on PostgreSQL.
SEARCHED = ("name", "applicant_unit", "content", "code")


def upgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("ix_projects_updated_at_id", ["updated_at", "id"], unique=False)
        batch_op.create_index(
            "ix_projects_district_updated_at_id", ["district_id", "updated_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_projects_category_updated_at_id", ["category", "updated_at", "id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED:
            op.create_index(
                f"ix_projects_{column}_trgm",
                "projects",
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for column in SEARCHED:
            op.drop_index(f"ix_projects_{column}_trgm", table_name="projects")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_category_updated_at_id")
        batch_op.drop_index("ix_projects_district_updated_at_id")
        batch_op.drop_index("ix_projects_updated_at_id")
