"""The web console: agent desktop, campaign dashboard and compliance pages (``cadencia web``).

``app``: assembly only. ``deps``: the context, the user, role checks.
``login``, ``desktop``, ``dashboard``, ``compliance_pages``, ``admin``: one
module per page group, templates and static files beside them.
``agent_events``: the subscription that feeds the agent desktop's screen pop.
"""

from cadencia.console.app import create_web_app

__all__ = ["create_web_app"]
