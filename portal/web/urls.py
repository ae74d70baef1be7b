"""Absolute URLs of the portal: made from its one configured public origin.

The request's Host (or X-Forwarded-Host) header is chosen by whoever sends the request;
an absolute URL made from it would send the payer, or an acquirer's notification, to
whichever host an attacker named. Pages link with relative URLs (`url_for`); what
leaves the portal (an acquirer's return and notification URLs) uses `external_url`.
"""

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` on PORTAL_PUBLIC_URL (config.resolve_payments
    fills it in for demo and development; production refuses to start without it)."""
    return current_app.config["PORTAL_PUBLIC_URL"] + url_for(endpoint, **values)
