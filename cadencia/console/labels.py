"""The words the console shows for the codes it stores (states, channels, outcomes, roles…).

A page shows ``{{ run.state|label }}``: the code's label in the viewer's
language, or the code itself when it has none (a new code shows, untranslated,
rather than vanish). Each label is a ``msg`` so Babel extracts it.
"""

from __future__ import annotations

from cadencia.console.i18n import Msg, msg

LABELS: dict[str, Msg] = {
    # run states (campaigns.run.state)
    "planning": msg("planning"),
    "planned": msg("planned"),
    "awaiting_approval": msg("awaiting approval"),
    "approved": msg("approved"),
    "dispatching": msg("dispatching"),
    "executing": msg("executing"),
    "closed": msg("closed"),
    "cancelled": msg("cancelled"),
    # run actions (campaigns.run.actions)
    "approve": msg("approve"),
    "launch": msg("launch"),
    "resume": msg("resume"),
    "cancel": msg("cancel"),
    # agent states and pause reasons (campaigns.agents.events, the desktop)
    "ready": msg("ready"),
    "paused": msg("paused"),
    "talking": msg("talking"),
    "wrap": msg("wrap-up"),
    "wrap-up": msg("wrap-up"),
    "ringing": msg("ringing"),
    "preview": msg("preview"),
    "logged_out": msg("logged out"),
    "break": msg("break"),
    "lunch": msg("lunch"),
    "training": msg("training"),
    "meeting": msg("meeting"),
    "technical": msg("technical"),
    # roles (campaigns.storage.accounts.ROLES)
    "agent": msg("agent"),
    "manager": msg("manager"),
    "compliance": msg("compliance"),
    "admin": msg("admin"),
    # channels, directions, ledger kinds and outcomes (compliance.model)
    "voice": msg("voice"),
    "sms": msg("SMS"),
    "whatsapp": msg("WhatsApp"),
    "email": msg("email"),
    "phone": msg("phone"),
    "outbound": msg("outbound"),
    "inbound": msg("inbound"),
    "attempt": msg("attempt"),
    "consent": msg("consent"),
    "opt_out": msg("opt-out"),
    "cease": msg("cease"),
    "promise": msg("promise"),
    "dispute": msg("dispute"),
    "refused": msg("refused"),
    "payment": msg("payment"),
    "settlement": msg("settlement"),
    "no_answer": msg("no answer"),
    "busy": msg("busy"),
    "not_in_service": msg("not in service"),
    "failed": msg("failed"),
    "machine": msg("answering machine"),
    "voicemail": msg("voicemail"),
    "abandoned": msg("abandoned"),
    "wrong_party": msg("wrong party"),
    "conversation": msg("conversation"),
    "sent": msg("sent"),
    "delivered": msg("delivered"),
    "bounced": msg("bounced"),
    "replied": msg("replied"),
    "pending": msg("pending"),
    # the disposition (campaigns.agents.disposition)
    "right": msg("right party"),
    "wrong_number": msg("wrong number"),
    "refusal": msg("refusal"),
    "callback": msg("callback"),
    "none": msg("no commitment"),
    # preview skips (campaigns.dialing.preview.SKIP_REASONS)
    "paid or promised since the plan": msg("paid or promised since the plan"),
    "recent contact on another channel": msg("recent contact on another channel"),
    "dispute or complaint open": msg("dispute or complaint open"),
    "customer asked not to be called now": msg("customer asked not to be called now"),
    "other": msg("other"),
    # accounts and consent (campaigns.portfolio)
    "open": msg("open"),
    "credit_card": msg("credit card"),
    "personal_loan": msg("personal loan"),
    "auto_loan": msg("auto loan"),
    "mortgage": msg("mortgage"),
    "granted": msg("granted"),
    "revoked": msg("revoked"),
    "unknown": msg("unknown"),
    # experiment arms (campaigns.run.report.summary.ARM_NAMES)
    "optimised": msg("optimised (Cadencia's plan)"),
    "challenger": msg("challenger (rule-based strategy)"),
    "holdout": msg("holdout (no contact)"),
}


def label_of(code: object) -> Msg | str:
    """The label of ``code`` (a ``Msg`` to translate), or the code as text."""
    text = "" if code is None else str(code)
    return LABELS.get(text, text)
