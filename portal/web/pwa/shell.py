"""What the app shell is made of: the manifest's content, the files the service worker
keeps for offline use, and the version that names its cache.

The service worker at the top of the repository (sw.js) is a template: the app fills in
this release's version and precache list when it serves it, so any change to a shell file
yields a new worker, a new cache name, and the old cache deleted on activation.
"""

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import current_app, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from portal import PACKAGE_DIR
from portal.web.filters import asset

# Static files every page loads, and the small app icon: kept by the worker at install,
# so a repeat visit fetches none of them. The 512 px icons are not: only the browser's
# installation fetches them, and the worker keeps them then (every fingerprinted file it
# sees is kept); fetching them ahead would be a fifth of a first visit's bytes.
PRECACHED_STATIC = (
    "css/portal.css",
    "js/vendor/htmx-2.0.11.min.js",
    "js/portal.js",
    "icons/logo.svg",
    "icons/icon-192.png",
)
ICONS = (
    ("icons/icon-192.png", "192x192", "any"),
    ("icons/icon-512.png", "512x512", "any"),
    ("icons/icon-maskable-512.png", "512x512", "maskable"),
)
SHELL_MARK = "/* shell */"


@cache
def shell_file(name: str) -> str:
    """manifest.json and sw.js live at the top of the repository and inside the wheel."""
    for folder in (PACKAGE_DIR / "shell", PACKAGE_DIR.parent):
        path = Path(folder) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(name)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def manifest_data() -> dict:
    """The manifest in the repository with the provider's branding, this deployment's
    paths and the reader's language filled in."""
    data = json.loads(shell_file("manifest.json"))
    cfg = current_app.config
    home = url_for("home.index")
    data.update(
        name=cfg["PORTAL_PROVIDER_NAME"],
        short_name=cfg["PORTAL_PROVIDER_NAME"][:12],
        description=_("Subscriber account: balance, payment, tariffs and services"),
        lang=str(get_locale() or "ru"),
        # The app opens where it was installed from, even under a path prefix.
        id=home,
        scope=home,
        start_url=url_for("home.index", source="pwa"),
        theme_color=cfg["PORTAL_BRAND_COLOR"],
        background_color=cfg["PORTAL_BACKGROUND_COLOR"],
        icons=[
            {"src": asset(path), "sizes": sizes, "type": "image/png", "purpose": purpose}
            for path, sizes, purpose in ICONS
        ],
        shortcuts=_shortcuts(),
    )
    return data


def _shortcuts() -> list[dict]:
    """What a long press on the home-screen icon offers."""
    icon = [{"src": asset("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"}]
    return [
        {"name": name, "short_name": short, "url": url_for(endpoint), "icons": icon}
        for endpoint, name, short in (
            ("payments.index", _("Pay"), _("Pay")),
            ("history.index", _("History"), _("History")),
            ("visits.index", _("Call a technician"), _("Technician")),
        )
    ]


def manifest_json() -> str:
    return json.dumps(manifest_data(), ensure_ascii=False, sort_keys=True)


def manifest_url() -> str:
    """The manifest's URL carries a hash of its content (branding, language, icons), so
    the worker may keep it like any fingerprinted file. Every page names it, and its
    content changes only with what the key below holds: it is built once per key and
    process, not on every page."""
    cfg = current_app.config
    key = (
        str(get_locale() or "ru"),
        request.script_root,
        cfg["PORTAL_PROVIDER_NAME"],
        cfg["PORTAL_BRAND_COLOR"],
        cfg["PORTAL_BACKGROUND_COLOR"],
    )
    known = current_app.extensions.setdefault("portal.manifest_urls", {})
    if key not in known:
        known[key] = url_for("pwa.manifest", v=_digest(manifest_json()))
    return known[key]


def brand_css_body() -> str:
    cfg = current_app.config
    return (
        ":root{"
        f"--brand:{css_color(cfg['PORTAL_BRAND_COLOR'])};"
        f"--brand-bg:{css_color(cfg['PORTAL_BACKGROUND_COLOR'])}"
        "}"
    )


def brand_css_url() -> str:
    return url_for("pwa.brand_css", v=_digest(brand_css_body()))


def css_color(value: str) -> str:
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


def precache_urls() -> list[str]:
    """Everything the offline page needs, and every static file a page loads."""
    return [
        url_for("pwa.offline"),
        brand_css_url(),
        manifest_url(),
        *(asset(name) for name in PRECACHED_STATIC),
    ]


@cache
def _release_digest() -> str:
    """The templates and translations the offline page is rendered from: a change to
    any of them is a new release of the offline page, which has no fingerprint of its
    own."""
    digest = hashlib.sha256()
    files = [
        *sorted((PACKAGE_DIR / "templates").rglob("*.html")),
        *sorted((PACKAGE_DIR / "translations").rglob("*.mo")),
    ]
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def service_worker_source() -> str:
    """sw.js with this release's shell: its version and the URLs to precache."""
    template = shell_file("sw.js")
    urls = precache_urls()
    lang = str(get_locale() or "ru")
    version = _digest("\n".join([template, _release_digest(), lang, *urls]))
    shell = {"version": version, "offline": url_for("pwa.offline"), "precache": urls}
    before, _old, after = template.split(SHELL_MARK, 2)
    return before + SHELL_MARK + " " + json.dumps(shell) + " " + SHELL_MARK + after
