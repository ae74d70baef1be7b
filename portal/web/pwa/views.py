"""The app shell files: the web app manifest, the service worker, the offline page."""

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, current_app, url_for

from portal import PACKAGE_DIR
from portal.htmx import render

bp = Blueprint("pwa", __name__)


@cache
def shell_file(name: str) -> str:
    """manifest.json and sw.js live at the top of the repository and inside the wheel."""
    for folder in (PACKAGE_DIR / "shell", PACKAGE_DIR.parent):
        path = Path(folder) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(name)


@bp.route("/manifest.json")
def manifest():
    """The manifest in the repository, with the provider's branding filled in."""
    data = json.loads(shell_file("manifest.json"))
    cfg = current_app.config
    data["name"] = cfg["PORTAL_PROVIDER_NAME"]
    data["short_name"] = cfg["PORTAL_PROVIDER_NAME"][:12]
    data["theme_color"] = cfg["PORTAL_BRAND_COLOR"]
    data["background_color"] = cfg["PORTAL_BACKGROUND_COLOR"]
    for icon in data.get("icons", []):
        icon["src"] = url_for("static", filename=icon["src"])
    response = Response(json.dumps(data, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/sw.js")
def service_worker():
    response = Response(shell_file("sw.js"), mimetype="text/javascript")
    # Browsers must see a new release at once, and the worker may control the whole site.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.route("/brand.css")
def brand_css():
    """The provider's colours as CSS variables: a file, since the CSP allows no inline style."""
    cfg = current_app.config
    body = (
        ":root{"
        f"--brand:{_css_color(cfg['PORTAL_BRAND_COLOR'])};"
        f"--brand-bg:{_css_color(cfg['PORTAL_BACKGROUND_COLOR'])}"
        "}"
    )
    response = Response(body, mimetype="text/css")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _css_color(value: str) -> str:
    """Only a #rgb / #rrggbb colour reaches the stylesheet; anything else is the default."""
    text = value.strip()
    digits = text[1:]
    if (
        text.startswith("#")
        and len(digits) in (3, 6)
        and all(ch in "0123456789abcdefABCDEF" for ch in digits)
    ):
        return text
    return "#0b5cad"


@bp.route("/offline")
def offline():
    response = render("pwa/offline.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
