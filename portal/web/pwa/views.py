"""The app shell files: the web app manifest, the service worker, the offline page."""

from flask import Blueprint, Response

from portal.htmx import render
from portal.web.pwa import shell

bp = Blueprint("pwa", __name__)


def _always_checked(response: Response) -> Response:
    """A shell file: browsers must see a new release at once (they revalidate each time)."""
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/manifest.json")
def manifest():
    """The manifest in the repository, with the provider's branding filled in."""
    return _always_checked(Response(shell.manifest_json(), mimetype="application/manifest+json"))


@bp.route("/sw.js")
def service_worker():
    response = Response(shell.service_worker_source(), mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"  # the worker may control the whole site
    return _always_checked(response)


@bp.route("/brand.css")
def brand_css():
    """The provider's colours as CSS variables: a file, since the CSP allows no inline style."""
    return _always_checked(Response(shell.brand_css_body(), mimetype="text/css"))


@bp.route("/offline")
def offline():
    """The page the service worker shows when the network is gone. It is kept in the
    browser's cache, so it holds nothing personal: it is drawn as for a visitor who is
    not signed in, and portal.js fills in the last known balance from the device."""
    return _always_checked(render("pwa/offline.html", shell_page=True))


@bp.route("/ping")
def ping():
    """An answer as small as possible: portal.js asks it whether the server is back."""
    response = Response(status=204)
    response.headers["Cache-Control"] = "no-store"
    return response


# The shell's fingerprinted URLs, for base.html.
bp.add_app_template_global(shell.brand_css_url, "brand_css_url")
bp.add_app_template_global(shell.manifest_url, "manifest_url")
