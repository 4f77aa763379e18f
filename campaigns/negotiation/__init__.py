"""Negotiation at the agent desktop: offers inside the campaign's limits, a supervisor beyond.

* ``rules`` (pure): the limits a customer's offers set, and an agent's ask
  judged against them, each limit it exceeds named.
* ``forms``: an agent's settlement or plan read from a form, amounts as the
  agent's locale writes them.
* ``plans``: a plan's (or a settlement's) tracked promises and ledger events,
  shared with the portal's plan acceptance.
* ``requests``: the desk's offers, recording an ask (taken at once, or an
  ``offer_requests`` row), the supervisor's decision, the queues.

The offer engine itself is ``campaigns.portal.offers`` (the portal's and the
desk's offers are the same); docs/negotiation.md describes the whole.
"""
