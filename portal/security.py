"""Response headers every answer carries: a strict CSP and its companions."""

from flask import Flask, Response, request

CSP = "; ".join(
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
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

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
_EVERY_DOCUMENT = (
    *_EVERY_ANSWER,
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000")


def _is_subresource(endpoint: str | None, response: Response) -> bool:
    return endpoint in _SUBRESOURCE_ENDPOINTS and response.mimetype in _SUBRESOURCE_TYPES


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    endpoint = request.endpoint
    # One pass over what the view set, instead of one per header (Headers.setdefault).
    present = {key.lower() for key, _value in headers.items()}
    wanted = _EVERY_ANSWER if _is_subresource(endpoint, response) else _EVERY_DOCUMENT
    if request.is_secure:
        wanted = (*wanted, _HSTS)
    headers.extend([pair for pair in wanted if pair[0].lower() not in present])
    # An error at a file's URL is an error page, drawn in the signed-in person's frame:
    # stored like the file, a shared cache would hand it to others, and keep it for good.
    failed = response.status_code >= 400
    if endpoint in _FINGERPRINTED_ENDPOINTS and request.args.get("v") and not failed:
        # Fingerprinted URL (web.filters.asset, web.pwa.shell): its content never changes.
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    elif (failed or endpoint not in _CACHEABLE_ENDPOINTS) and "cache-control" not in present:
        # Personal pages must not stay in a shared or back-forward cache.
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
