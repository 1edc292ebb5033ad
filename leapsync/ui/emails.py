"""One way to send leapsync's emails: subject, text and HTML templates rendered together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def plain_text(rendered: str) -> str:
    """A rendered text template as a plain `str`, which any HTML page showing it escapes.

    Django marks every rendered template safe, and a text template renders with autoescape
    off (right for text/plain), so a customer name from Leap would come out as live markup
    wherever the text is put into HTML: a preview page, an HTML part made from the text.
    """
    return str.__str__(rendered)


def render_email(name: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) from `emails/<name>_subject.txt`, `<name>.txt` and `<name>.html`.

    The subject is collapsed onto one line (a newline in a header is an injection risk). The
    subject and text are plain strings (see plain_text); the HTML part is markup.
    """
    subject = " ".join(render_to_string(f"emails/{name}_subject.txt", context).split())
    text = plain_text(render_to_string(f"emails/{name}.txt", context))
    html = render_to_string(f"emails/{name}.html", context)
    return subject, text, html


def send_email(
    name: str,
    context: Mapping[str, Any],
    to: Sequence[str],
    *,
    reply_to: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> EmailMultiAlternatives:
    """Render and send synchronously (django-q2 is already the background worker).

    Raises whatever the email backend raises, so callers record the failure instead of
    losing it.
    """
    subject, text, html = render_email(name, context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
        reply_to=list(reply_to),
        headers=dict(headers or {}),
    )
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)
    return message
