"""The migrations build exactly the schema the models describe, on every backend."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index

from workflow.extensions import db


def _exists_on(dialect_name: str):
    """Leave out indexes only PostgreSQL has (trigram GIN), when comparing another backend."""

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "index" and isinstance(obj, Index) and dialect_name != "postgresql":
            return not obj.dialect_options["postgresql"].get("using")
        return True

    return include_object


def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": _exists_on(connection.dialect.name)},
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []
