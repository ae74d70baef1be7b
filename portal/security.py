"""Response headers every answer carries: a strict CSP and its companions."""

from functools import cache

from flask import Flask, Response, current_app, request

from portal.domain.payments.acquirers import acquirer_class
from portal.domain.payments.errors import UnknownProvider
from portal.web.filters import asset_fingerprint


def content_security_policy(form_targets: tuple[str, ...] = ()) -> str:
    """The policy; `form_targets`: origins besides our own a form's redirect may reach."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "manifest-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            " ".join(["form-action 'self'", *form_targets]),
            "frame-ancestors 'none'",
        ]
    )


CSP = content_security_policy()

# Answers that may be stored: the versioned static files and the public shell files.
_CACHEABLE_ENDPOINTS = {
    "static",
    "pwa.manifest",
    "pwa.offline",
    "pwa.brand_css",
    "pwa.service_worker",
}

# Answers whose URL may carry a hash of their content (?v=...).
_FINGERPRINTED_ENDPOINTS = {"static", "pwa.manifest", "pwa.brand_css"}


# Stylesheets, scripts and bitmaps: never shown as a document, so the document-only
# headers below would be half a kilobyte of every first visit's bytes, for nothing. (An
# SVG can run script when opened by itself, and sw.js is a worker: both keep them.)
_SUBRESOURCE_ENDPOINTS = {"static", "pwa.brand_css"}
_SUBRESOURCE_TYPES = {"text/css", "text/javascript", "application/javascript", "image/png"}


# Built once: every answer carries them, unless a view set its own.
_EVERY_ANSWER = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"))
_HSTS = ("Strict-Transport-Security", "max-age=31536000")


@cache
def _every_document(payment_provider: str) -> tuple[tuple[str, str], ...]:
    """The headers of every document, built once per acquirer. The Pay form posts here
    and is redirected to the acquirer's page, and the browser checks that redirect
    against the policy of the document it was first loaded as: a tap swaps the Pay page
    into the page already open (hx-boost), so every page must allow the acquirer."""
    try:
        targets = acquirer_class(payment_provider).redirect_origins if payment_provider else ()
    except UnknownProvider:
        targets = ()
    return (
        *_EVERY_ANSWER,
        ("Content-Security-Policy", content_security_policy(targets)),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    )


def _is_subresource(endpoint: str | None, response: Response) -> bool:
    return endpoint in _SUBRESOURCE_ENDPOINTS and response.mimetype in _SUBRESOURCE_TYPES


def _fingerprinted(endpoint: str | None) -> bool:
    """A URL with a hash of its content. A static file's is checked against the file
    served: while a release rolls out, a process of the old one may be asked for a file
    by its new hash, and must not give its old content to be kept under that name."""
    fingerprint = request.args.get("v")
    if not fingerprint or endpoint not in _FINGERPRINTED_ENDPOINTS:
        return False
    if endpoint == "static":
        return fingerprint == asset_fingerprint(request.view_args["filename"])
    return True


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    endpoint = request.endpoint
    # One pass over what the view set, instead of one per header (Headers.setdefault).
    present = {key.lower() for key, _value in headers.items()}
    if _is_subresource(endpoint, response):
        wanted = _EVERY_ANSWER
    else:
        wanted = _every_document(current_app.config.get("PORTAL_PAYMENT_PROVIDER") or "")
    if request.is_secure:
        wanted = (*wanted, _HSTS)
    headers.extend([pair for pair in wanted if pair[0].lower() not in present])
    # An error at a file's URL is an error page, drawn in the signed-in person's frame:
    # stored like the file, a shared cache would hand it to others, and keep it for good.
    failed = response.status_code >= 400
    if not failed and _fingerprinted(endpoint):
        # Fingerprinted URL (web.filters.asset, web.pwa.shell): its content never changes.
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    elif (failed or endpoint not in _CACHEABLE_ENDPOINTS) and "cache-control" not in present:
        # Personal pages must not stay in a shared or back-forward cache.
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
