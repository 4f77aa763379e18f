"""Cadencia's application: the composition root.

Storage (SQLAlchemy), the contact ledger, portfolio import, the daily run,
RQ job entry points, the CLI and the web console live here. This is the ONLY
package that wires the others together.

May import: ``compliance``, ``optimizer``, ``dialer``, ``channels`` and
third-party libraries.
"""
