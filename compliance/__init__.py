"""Contact-compliance rules: rule packs as data, pure evaluation, allowances.

Rule packs (TOML shipped in this package, each rule with its statute
citation), the pure evaluation of one proposed contact against a history,
and vectorised allowances for a whole portfolio on a given day.

Pure: no I/O (no sockets, SQL, Redis, clock reads; time is passed in).
May import: third-party libraries only. Never ``campaigns``, ``optimizer``,
``dialer`` or ``channels``.
"""
