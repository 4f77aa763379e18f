"""Storage: the SQLAlchemy models, the engine and its migrations.

``models``: the portfolio, runs, plans and promises. ``accounts``: console
users, sessions, dispositions and callbacks. ``db``: engines and
``migrate``. ``sql``: small SQL helpers shared by the hot paths.
``migrations``: Alembic's revisions (``cadencia init`` applies them).
"""
