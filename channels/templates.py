"""Rendering messages from per-campaign, per-language Jinja2 templates.

Templates run in a ``SandboxedEnvironment`` (campaign managers write them, so
they must not reach Python internals) with ``StrictUndefined`` (a typo must
fail the render, never send "Dear ,"). Names are
``<campaign>/<language>/<file>``; files per channel:

- sms: ``sms.txt.j2``           - whatsapp: ``whatsapp.txt.j2``
- email: ``email_subject.txt.j2``, ``email_body.txt.j2``, optional ``email_body.html.j2``

A campaign without its own file falls back to the ``default`` campaign.
A catalog is immutable once built (no reloading): after editing templates,
build a new catalog.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jinja2 import (
    BaseLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from channels.context import CustomerView, template_context
from channels.errors import TemplateError
from channels.optout import email_notice, text_notice
from channels.sms import SmsInfo, sms_info

Channel = Literal["sms", "whatsapp", "email"]
CHANNELS: tuple[Channel, ...] = ("sms", "whatsapp", "email")
BUILTIN_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class RenderRequest:
    """What to render for whom.

    ``us_opt_out`` is set when the US rule pack (Regulation F) applies: every
    email and text then carries the 12 CFR 1006.6(e) opt-out instruction.
    Email needs ``opt_out_url`` in that case (a working method, not just words).
    """

    campaign: str
    language: str
    channel: Channel
    customer: CustomerView
    us_opt_out: bool = False
    payment_link: str | None = None
    opt_out_url: str | None = None
    decimal_comma: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedMessage:
    """A ready-to-send message. ``sms`` is set for sms and whatsapp bodies."""

    channel: Channel
    language: str
    body: str
    subject: str | None = None
    html: str | None = None
    sms: SmsInfo | None = None
    templates: tuple[str, ...] = ()


_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


class _FlatGlobalsSandbox(SandboxedEnvironment):
    """The sandbox, with each template's globals one plain dict.

    Jinja layers them as a ``ChainMap`` over the environment's, which every
    render copies and iterates in pure Python: a tenth of an email's rendering,
    three renders an email. Nothing here changes the environment's globals
    after templates load, which is all the layering would track.
    """

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return {**self.globals, **(d or {})}


class TemplateCatalog:
    """A set of templates plus the sandbox that renders them (thread-safe, caches compiled)."""

    def __init__(self, loader: BaseLoader, *, fallback_campaign: str | None = "default") -> None:
        self._fallback = fallback_campaign
        self._resolved: dict[tuple[str, str, str], tuple[str, Template] | None] = {}
        self._env = _FlatGlobalsSandbox(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=2000,
        )

    @classmethod
    def from_directory(
        cls, root: str | Path, *, fallback_campaign: str | None = "default"
    ) -> TemplateCatalog:
        """Templates laid out as ``root/<campaign>/<language>/<file>``."""
        path = Path(root)
        if not path.is_dir():
            raise TemplateError(f"template directory {path} does not exist", template=str(path))
        return cls(FileSystemLoader(str(path)), fallback_campaign=fallback_campaign)

    @classmethod
    def from_mapping(
        cls, sources: Mapping[str, str], *, fallback_campaign: str | None = "default"
    ) -> TemplateCatalog:
        """Templates given as ``{"campaign/lang/file": source}`` (e.g. from the database)."""
        return cls(DictLoader(dict(sources)), fallback_campaign=fallback_campaign)

    @classmethod
    def builtin(cls) -> TemplateCatalog:
        """The shipped ``default`` campaign templates in es, en and pt."""
        return cls.from_directory(BUILTIN_DIR)

    def _candidates(self, campaign: str, language: str, file: str) -> list[str]:
        names = [f"{campaign}/{language}/{file}"]
        if self._fallback and self._fallback != campaign:
            names.append(f"{self._fallback}/{language}/{file}")
        return names

    def _resolve(self, campaign: str, language: str, file: str) -> tuple[str, Template] | None:
        """The first existing candidate, compiled; resolution is cached because a
        miss (campaign without its own file) is not cached by Jinja and would
        hit the file system on every message."""
        key = (campaign, language, file)
        if key in self._resolved:
            return self._resolved[key]
        found: tuple[str, Template] | None = None
        for name in self._candidates(campaign, language, file):
            try:
                found = (name, self._env.get_template(name))
                break
            except TemplateNotFound:
                continue
            except TemplateSyntaxError as exc:
                raise TemplateError(
                    f"template {name} has a syntax error at line {exc.lineno}: {exc.message}",
                    template=name,
                ) from None
        self._resolved[key] = found
        return found

    def _render(
        self, campaign: str, language: str, file: str, context: dict[str, Any]
    ) -> tuple[str, str]:
        found = self._resolve(campaign, language, file)
        if found is None:
            names = self._candidates(campaign, language, file)
            raise TemplateError(f"template not found: tried {', '.join(names)}", template=names[0])
        name, template = found
        try:
            return name, template.render(context).strip()
        except UndefinedError as exc:
            match = _UNDEFINED_NAME.search(str(exc))
            variable = next((g for g in match.groups() if g), None) if match else None
            raise TemplateError(
                f"template {name} uses undefined variable {variable!r}: {exc}",
                template=name,
                variable=variable,
            ) from None
        except SecurityError as exc:
            raise TemplateError(
                f"template {name} tried something the sandbox forbids: {exc}", template=name
            ) from None

    def has(self, campaign: str, language: str, file: str) -> bool:
        """Whether the campaign (or the fallback) has ``file`` in ``language``."""
        return self._resolve(campaign, language, file) is not None

    def render(self, request: RenderRequest) -> RenderedMessage:
        """Render one message; raises ``TemplateError`` naming template and variable."""
        if request.channel not in CHANNELS:
            raise ValueError(f"channel {request.channel!r} is not one of {', '.join(CHANNELS)}")
        context = template_context(
            request.customer,
            language=request.language,
            payment_link=request.payment_link,
            decimal_comma=request.decimal_comma,
            extra=request.extra,
        )
        notice_text: str | None = None
        notice_html: Markup | None = None
        if request.us_opt_out:
            notice_text, notice_html = _opt_out_notice(request)
            context["opt_out_notice"] = notice_text
            context["opt_out_notice_html"] = notice_html
        if request.opt_out_url:
            context["opt_out_url"] = request.opt_out_url
        if request.channel in ("sms", "whatsapp"):
            return self._render_text(request, context, notice_text)
        return self._render_email(request, context, notice_text, notice_html)

    def _render_text(
        self, request: RenderRequest, context: dict[str, Any], notice_text: str | None
    ) -> RenderedMessage:
        """An sms or whatsapp body, the opt-out notice appended unless the template has it."""
        name, body = self._render(
            request.campaign, request.language, f"{request.channel}.txt.j2", context
        )
        if notice_text and notice_text not in body:
            body = f"{body}\n{notice_text}"
        return RenderedMessage(
            channel=request.channel,
            language=request.language,
            body=body,
            sms=sms_info(body),
            templates=(name,),
        )

    def _render_email(
        self,
        request: RenderRequest,
        context: dict[str, Any],
        notice_text: str | None,
        notice_html: Markup | None,
    ) -> RenderedMessage:
        """Subject, text body and (when the campaign has one) HTML body, each with the notice."""
        lang, camp = request.language, request.campaign
        subject_name, subject = self._render(camp, lang, "email_subject.txt.j2", context)
        if "\n" in subject:
            raise TemplateError(
                f"template {subject_name} renders a multi-line subject", template=subject_name
            )
        text_name, text = self._render(camp, lang, "email_body.txt.j2", context)
        if notice_text and notice_text not in text:
            text = f"{text}\n\n{notice_text}"
        names = [subject_name, text_name]
        html: str | None = None
        if self.has(camp, lang, "email_body.html.j2"):
            html_name, html = self._render(camp, lang, "email_body.html.j2", context)
            names.append(html_name)
            if notice_html and str(notice_html) not in html:
                html = _with_notice_before_body_end(html, notice_html)
        return RenderedMessage(
            channel="email",
            language=lang,
            body=text,
            subject=subject,
            html=html,
            templates=tuple(names),
        )


def _opt_out_notice(request: RenderRequest) -> tuple[str, Markup | None]:
    """The Regulation F opt-out notice as text, and as HTML for email (linking the URL)."""
    if request.channel != "email":
        return text_notice(request.language), None
    if not request.opt_out_url:
        raise TemplateError(
            "12 CFR 1006.6(e) needs a working opt-out method in every email: "
            "RenderRequest.opt_out_url is missing",
            template=f"{request.campaign}/{request.language}/email_body.txt.j2",
            variable="opt_out_url",
        )
    notice_text = email_notice(request.language, request.opt_out_url)
    # Plain f-strings over escaped parts: Markup.format runs a
    # string.Formatter per call, a tenth of an email's rendering.
    url = escape(request.opt_out_url)
    link = Markup(f'<a href="{url}">{url}</a>')
    return notice_text, Markup(f"<p>{escape(notice_text).replace(url, link)}</p>")


def _with_notice_before_body_end(html: str, notice_html: Markup) -> str:
    """``html`` with the notice just before ``</body>``, or at the end when there is none."""
    closing = html.lower().rfind("</body>")
    if closing >= 0:
        return f"{html[:closing]}{notice_html}{html[closing:]}"
    return f"{html}{notice_html}"
