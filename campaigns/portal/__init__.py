"""The debtor portal's core: links behind messages, the identity check, offers, actions.

The web app that serves it is ``cadencia.portal`` (``cadencia portal``);
docs/portal.md describes the whole.
"""
