"""Cadencia's entry points: what an operator runs.

``cadencia.cli``: the ``cadencia`` command, one module per command group.
``cadencia.console``: the web console (agent desktop, dashboard, compliance pages).
``cadencia.metrics``: the Prometheus scrape endpoint.

Each entry point loads ``campaigns.settings.Settings`` once and passes it
down. May import: ``sandbox`` (developer commands only), ``campaigns`` and
the leaves; nothing imports this package.
"""
