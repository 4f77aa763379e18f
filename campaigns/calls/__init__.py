"""The call desk: calls that reach agents outside a dial session, inbound and transferred.

Transfers: ``campaigns.calls.transfer``. Inbound calls: a debtor who calls
the company number reaches a person who knows them. ``cadencia desk``
(``campaigns.calls.service``; inbound in ``campaigns.calls.desk``) listens on AMI. The
dialplan's ``[cadencia-inbound]`` announces each call to the company number
(a DID) with ``UserEvent(CadenciaInbound)`` and waits a moment for a route;
the desk matches the caller ID to the portfolio's phone numbers
(``campaigns.calls.caller``), sets the call's customer and, when the
customer has an owner who is a member of the inbound queue, the owner-first
variables the outbound calls use (docs/routing.md); the dialplan then offers
the call to the owner first and to anyone in the inbound queue after.
When an agent answers, the desk writes the inbound attempt to the ledger and
publishes ``connect`` on the agent-event contract: the console pops the
customer (or, for a number nobody in the portfolio has, a search with the
number). The conversation's end records its outcome and publishes
``complete``; a caller who hangs up while waiting is an inbound abandon,
recorded as such and never counted in the outbound abandon rate the pacer
budgets. Agents are members of the inbound queue and their campaigns'
queues alike: an agent on an inbound call is busy in every queue (device
state), so the dial sessions pace around them.
"""
