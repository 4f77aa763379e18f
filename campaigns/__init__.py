"""Cadencia's application core: the one package that wires the leaves together.

``storage`` (models, engine, migrations), ``ledger`` (chain, guard, audit),
``portfolio`` (import), ``run`` (plan, dispatch, report), ``dialing`` (voice),
``messaging`` (email, SMS, WhatsApp batches), ``webhooks`` (provider events),
``agents`` (the agent-event contract, dispositions), and the modules
``campaign``, ``reach``, ``clock``, ``settings``, ``metrics``, ``observability``.

May import: ``compliance``, ``optimizer``, ``dialer``, ``channels`` and
third-party libraries; never ``cadencia`` (the entry points) or ``sandbox``.
"""
