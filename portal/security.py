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


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint in _FINGERPRINTED_ENDPOINTS and request.args.get("v"):
        # Fingerprinted URL (web.filters.asset, web.pwa.shell): its content never changes.
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    elif request.endpoint not in _CACHEABLE_ENDPOINTS and "Cache-Control" not in headers:
        # Personal pages must not stay in a shared or back-forward cache.
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
