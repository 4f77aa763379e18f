"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import campaigns.storage.accounts
import campaigns.storage.portal  # noqa: F401  (and the portal's)
from campaigns.storage.db import make_engine
from campaigns.storage.models import Base


def test_migrated_database_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert differences == []
