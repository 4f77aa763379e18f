"""The call script an agent reads, in the debtor's language.

Each script opens with the identification and disclosure the law requires
before discussing a debt: in the US the "mini-Miranda" (FDCPA §807(11), 15
U.S.C. §1692e(11)); in Colombia the Ley 2300 de 2023 requires naming the
creditor and the purpose of the call. Texts are Jinja2 templates with
``name``, ``agent``, ``creditor`` and ``total_due`` in scope.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined

from cadencia.console.i18n import money

CREDITOR = "Cadencia Cobranzas"
SCRIPTS = {
    "es": [
        "Buenos días, ¿hablo con {{ name }}? Mi nombre es {{ agent }}, de {{ creditor }}.",
        "Le llamamos para hablar de sus obligaciones pendientes; esta llamada puede ser grabada.",
        "Hoy su saldo total en mora es {{ total_due }}. ¿Podemos acordar una fecha de pago?",
        "Si no puede pagar el total, ofrezca el pago mínimo o un acuerdo por cuenta.",
        "Antes de colgar, confirme el monto y la fecha acordados y agradezca su tiempo.",
    ],
    "en": [
        "Hello, may I speak with {{ name }}? My name is {{ agent }}, calling from {{ creditor }}.",
        "This is an attempt to collect a debt, and any information obtained will be used "
        "for that purpose. This call may be recorded.",
        "Your total past-due balance today is {{ total_due }}. Can we agree on a payment date?",
        "If the full amount is not possible, offer the minimum due or a plan per account.",
        "Before hanging up, confirm the amount and date agreed, and thank them for their time.",
    ],
    "pt": [
        "Bom dia, falo com {{ name }}? Meu nome é {{ agent }}, de {{ creditor }}.",
        "Estamos ligando sobre suas obrigações em atraso; esta chamada pode ser gravada.",
        "Hoje o seu saldo total em atraso é {{ total_due }}. Podemos combinar uma data?",
        "Se não puder pagar o total, ofereça o pagamento mínimo ou um acordo por conta.",
        "Antes de desligar, confirme o valor e a data combinados e agradeça.",
    ],
}
# The page template escapes the rendered lines; escaping here too would double it.
_env = Environment(undefined=StrictUndefined, autoescape=False)


def script_for(view: dict[str, Any], agent: str) -> tuple[str, list[str]]:
    """(language used, the script's lines) for the customer ``view`` (a 360 view)."""
    language = (view.get("language") or "es").split("-")[0].lower()
    if language not in SCRIPTS:
        language = "en" if view.get("country") == "US" else "es"
    total = ", ".join(money(amount, cur, language) for cur, amount in view["total_due"].items())
    total = total or "0"
    values = {"name": view["name"], "agent": agent, "creditor": CREDITOR, "total_due": total}
    return language, [_env.from_string(line).render(**values) for line in SCRIPTS[language]]
