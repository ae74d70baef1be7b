"""Absolute URLs of the portal: made from its one configured public origin.

The request's Host (or X-Forwarded-Host) header is chosen by whoever sends the request;
an absolute URL made from it would send the payer, or an acquirer's notification, to
whichever host an attacker named. Pages link with relative URLs (`url_for`); what
leaves the portal (an acquirer's return and notification URLs) uses `external_url`.
"""

from urllib.parse import urlsplit

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` on PORTAL_PUBLIC_URL (config.resolve_payments
    fills it in for demo and development; production refuses to start without it)."""
    return current_app.config["PORTAL_PUBLIC_URL"] + url_for(endpoint, **values)


def safe_next(target: str | None) -> str:
    """Only a path on this site is followed after a form (no open redirect); anything
    else goes to the home page."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return url_for("home.index")
    return target


def back_to(referrer: str | None) -> str:
    """The page a form was sent from, as a path on this site, whatever host it names."""
    if not referrer:
        return url_for("home.index")
    parts = urlsplit(referrer)
    return safe_next(parts.path + ("?" + parts.query if parts.query else ""))
