"""The debtor portal's core: links behind messages, the identity check, offers, actions,
and payments through a processor's hosted checkout (``pay``, ``checkout``, ``payments``).

The web app that serves it is ``cadencia.portal`` (``cadencia portal``);
docs/portal.md describes the whole.
"""
