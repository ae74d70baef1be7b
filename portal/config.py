"""Configuration: defaults, then the environment, then a test config.

Every setting the deployment may change is read from an environment variable here and
nowhere else, so this module is the whole list of knobs.
"""

import math
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

MODES = ("production", "development", "demo")


def _env_bool(name: str, default: bool | None) -> bool | None:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class SettingError(RuntimeError):
    """A setting no process may start with; the message names the variable."""


def _env_number(name: str, default, kind, minimum, maximum, *, above: bool = False):
    """The variable as a number (the default when unset), refused outside its range:
    a negative fee, timeout or count would start a portal that misbehaves, not one that
    refuses."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = kind(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise SettingError(f"{name} must be a number, not {value!r}")
    if above and number <= minimum:
        raise SettingError(f"{name} must be more than {minimum}, not {value!r}")
    if minimum is not None and number < minimum:
        raise SettingError(f"{name} must be at least {minimum}, not {value!r}")
    if maximum is not None and number > maximum:
        raise SettingError(f"{name} must be at most {maximum}, not {value!r}")
    return number


def _env_int(name: str, default: int, minimum: int | None = 0, maximum: int | None = None) -> int:
    """A whole number, 0 or more unless said otherwise."""
    return _env_number(name, default, int, minimum, maximum)


def _env_float(name: str, default: float, *, above: bool = False) -> float:
    """Seconds: 0 or more, or (above) more than 0."""
    return _env_number(name, default, float, 0, None, above=above)


def load_secret_key(instance_path: str) -> str:
    """Take SECRET_KEY from the environment, else from a file generated once under instance/.

    A constant in the code would let anyone who reads the repository forge sessions.
    """
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    key_file = Path(instance_path) / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Created with owner-only permissions before the key is written into it.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def default_config(instance_path: str) -> dict:
    """The settings of a fresh install, with the environment applied."""
    database_url = os.environ.get("DATABASE_URL") or (
        "sqlite:///" + str(Path(instance_path) / "portal.db")
    )
    redis_url = os.environ.get("REDIS_URL") or None
    mode = os.environ.get("PORTAL_MODE", "production")
    return {
        "PORTAL_MODE": mode,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # Branding: OneCity is the default provider.
        "PORTAL_PROVIDER_NAME": os.environ.get("PORTAL_PROVIDER_NAME", "OneCity"),
        "PORTAL_PROVIDER_CITY": os.environ.get("PORTAL_PROVIDER_CITY", "Ялта"),
        "PORTAL_SUPPORT_PHONE": os.environ.get("PORTAL_SUPPORT_PHONE", "+7 (978) 00-02-535"),
        "PORTAL_SITE": os.environ.get("PORTAL_SITE", "1city.org"),
        "PORTAL_BRAND_COLOR": os.environ.get("PORTAL_BRAND_COLOR", "#0b5cad"),
        "PORTAL_BACKGROUND_COLOR": os.environ.get("PORTAL_BACKGROUND_COLOR", "#ffffff"),
        "PORTAL_LOGO": os.environ.get("PORTAL_LOGO", "icons/logo.svg"),
        "PORTAL_TIMEZONE": os.environ.get("PORTAL_TIMEZONE", "Europe/Simferopol"),
        # Sessions
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env_bool("PORTAL_SECURE_COOKIES", mode == "production"),
        "SESSION_COOKIE_NAME": "portal_session",
        "REMEMBER_COOKIE_NAME": "portal_remember",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _env_bool("PORTAL_SECURE_COOKIES", mode == "production"),
        "REMEMBER_COOKIE_DURATION": timedelta(days=_env_int("PORTAL_REMEMBER_DAYS", 60, 1)),
        "REMEMBER_COOKIE_REFRESH_EACH_REQUEST": False,  # True would remember everyone
        "PORTAL_SESSION_IDLE": timedelta(hours=_env_int("PORTAL_SESSION_IDLE_HOURS", 12, 1)),
        # Throttling of sign-in failures (Flask-Limiter syntax). Per network address, in
        # growing steps; a trusted device (one that signed in before) has its own limit
        # instead. Per account: wrong passwords in a row before only a trusted device or
        # a recovery secret signs in (NIST SP 800-63B: at most 100).
        "PORTAL_LOGIN_LIMIT_ADDRESS": os.environ.get(
            "PORTAL_LOGIN_LIMIT_ADDRESS", "10 per minute;20 per hour;100 per day"
        ),
        "PORTAL_LOGIN_LIMIT_DEVICE": os.environ.get("PORTAL_LOGIN_LIMIT_DEVICE", "10 per hour"),
        "PORTAL_LOGIN_MAX_FAILURES": _env_int("PORTAL_LOGIN_MAX_FAILURES", 100, 1),
        "PORTAL_TRUSTED_DEVICE_DAYS": _env_int("PORTAL_TRUSTED_DEVICE_DAYS", 365, 1),
        # Wrong current passwords on the profile pages, per account (and per address as
        # for sign-in).
        "PORTAL_PASSWORD_CHECK_LIMIT": os.environ.get(
            "PORTAL_PASSWORD_CHECK_LIMIT", "5 per 15 minutes;20 per day"
        ),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        # Redis unreachable: limits are kept in each process's memory (a warning is
        # logged) until it answers again.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2}
        if redis_url
        else {},
        "RATELIMIT_HEADERS_ENABLED": False,
        # The districts accounts belong to (technicians are dispatched by district).
        "PORTAL_DISTRICTS": tuple(
            d.strip()
            for d in os.environ.get(
                "PORTAL_DISTRICTS",
                "Ялта-центр,Массандра,Ливадия,Гаспра,Кореиз,Алупка,Гурзуф,Никита",
            ).split(",")
            if d.strip()
        ),
        # Technician visits: the subscriber cancels or moves a request until this many
        # hours before its window; windows are offered this many days ahead (today
        # included); the reminder goes from this local hour of the evening before.
        "PORTAL_VISIT_CHANGE_HOURS": _env_int("PORTAL_VISIT_CHANGE_HOURS", 2),
        "PORTAL_VISIT_DAYS_AHEAD": _env_int("PORTAL_VISIT_DAYS_AHEAD", 14, 1),
        "PORTAL_VISIT_REMIND_HOUR": _env_int("PORTAL_VISIT_REMIND_HOUR", 18, 0, 23),
        # The staff console: how long an idle session lives, sign-in failures per address.
        "PORTAL_STAFF_SESSION_IDLE": timedelta(hours=_env_int("PORTAL_STAFF_SESSION_HOURS", 8, 1)),
        # How long a staff member's read-only view of a subscriber's pages lasts.
        "PORTAL_VIEW_AS_LIFETIME": timedelta(minutes=_env_int("PORTAL_VIEW_AS_MINUTES", 15, 1)),
        "PORTAL_STAFF_LOGIN_LIMIT_ADDRESS": os.environ.get(
            "PORTAL_STAFF_LOGIN_LIMIT_ADDRESS", "10 per 15 minutes"
        ),
        # Per staff account (portal.domain.auth.lockout): wrong passwords and codes in a
        # row that cost nothing, then pauses on sign-in from new devices doubling up to
        # the longest; a trusted device keeps PORTAL_LOGIN_LIMIT_DEVICE instead.
        "PORTAL_STAFF_LOGIN_FREE_FAILURES": _env_int("PORTAL_STAFF_LOGIN_FREE_FAILURES", 20),
        "PORTAL_STAFF_LOGIN_LONGEST_PAUSE_MINUTES": _env_int(
            "PORTAL_STAFF_LOGIN_LONGEST_PAUSE_MINUTES", 60, 1
        ),
        # Password recovery by SMS
        "PORTAL_RECOVERY_TTL_MINUTES": _env_int("PORTAL_RECOVERY_TTL_MINUTES", 15, 1),
        # The profile's phone code's wrong tries (the recovery secret counts none).
        "PORTAL_RECOVERY_MAX_FAILURES": _env_int("PORTAL_RECOVERY_MAX_FAILURES", 5, 1),
        "PORTAL_RECOVERY_LIMIT_CONTRACT": os.environ.get(
            "PORTAL_RECOVERY_LIMIT_CONTRACT", "3 per hour;5 per day"
        ),
        "PORTAL_RECOVERY_LIMIT_PHONE": os.environ.get("PORTAL_RECOVERY_LIMIT_PHONE", "5 per day"),
        "PORTAL_RECOVERY_LIMIT_ADDRESS": os.environ.get(
            "PORTAL_RECOVERY_LIMIT_ADDRESS", "10 per hour"
        ),
        # Trusted reverse proxies in front of the app (for the client address); 0 = none.
        "PORTAL_TRUSTED_PROXIES": _env_int("PORTAL_TRUSTED_PROXIES", 0),
        # Compressed answers (pages in Russian are half their size). BREACH, the attack
        # on compressed secrets next to reflected input, finds no stable secret here: the
        # CSRF token is signed anew every second (itsdangerous' timestamp), and the
        # session cookie is SameSite=Lax, so no other site's page can make the
        # subscriber's browser fetch pages in a loop from a frame or a script.
        "COMPRESS_MIMETYPES": [
            "text/html",
            "text/css",
            "text/javascript",
            "application/javascript",
            "application/manifest+json",
            "image/svg+xml",
        ],
        # Brotli first (a tenth smaller than zstd or gzip on htmx); level 6 costs ~2 ms.
        "COMPRESS_ALGORITHM": ["br", "zstd", "gzip", "deflate"],
        "COMPRESS_ALGORITHM_STREAMING": ["br", "zstd", "deflate"],
        "COMPRESS_BR_LEVEL": 6,
        "MAX_CONTENT_LENGTH": 64 * 1024,
        # The largest CSV the staff may import (that one form alone takes more than 64 KiB).
        "PORTAL_IMPORT_MAX_BYTES": _env_int("PORTAL_IMPORT_MAX_BYTES", 10 * 1024 * 1024, 1),
        # A promotion's picture (JPEG, PNG or WebP), and how many people one job of a
        # promotion's push reaches.
        "PORTAL_PROMO_IMAGE_MAX_BYTES": _env_int(
            "PORTAL_PROMO_IMAGE_MAX_BYTES", 2 * 1024 * 1024, 1
        ),
        "PORTAL_PROMO_PUSH_BATCH": _env_int("PORTAL_PROMO_PUSH_BATCH", 200, 1),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "BABEL_DEFAULT_LOCALE": "ru",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("PORTAL_TIMEZONE", "Europe/Simferopol"),
        "PORTAL_LANGUAGES": ("ru", "en"),
        # SMS: `outbox` keeps and logs messages only (no SMS contract needed); `smpp`
        # sends them through an SMSC.
        "PORTAL_SMS_BACKEND": os.environ.get("PORTAL_SMS_BACKEND", "outbox"),
        "PORTAL_SMPP_HOST": os.environ.get("PORTAL_SMPP_HOST", ""),
        "PORTAL_SMPP_PORT": os.environ.get("PORTAL_SMPP_PORT", "2775"),
        "PORTAL_SMPP_SYSTEM_ID": os.environ.get("PORTAL_SMPP_SYSTEM_ID", ""),
        "PORTAL_SMPP_PASSWORD": os.environ.get("PORTAL_SMPP_PASSWORD", ""),
        "PORTAL_SMPP_SYSTEM_TYPE": os.environ.get("PORTAL_SMPP_SYSTEM_TYPE", ""),
        "PORTAL_SMPP_SOURCE_ADDR": os.environ.get("PORTAL_SMPP_SOURCE_ADDR", "OneCity"),
        "PORTAL_SMPP_TIMEOUT": _env_float("PORTAL_SMPP_TIMEOUT", 10, above=True),
        "PORTAL_SMPP_RECEIPT_WAIT": _env_float("PORTAL_SMPP_RECEIPT_WAIT", 1),
        "PORTAL_SMS_MAX_ATTEMPTS": _env_int("PORTAL_SMS_MAX_ATTEMPTS", 6, 1),
        "PORTAL_SMS_RETRY_DELAY": _env_float("PORTAL_SMS_RETRY_DELAY", 30),
        "PORTAL_SMS_MAX_RETRY_DELAY": _env_float("PORTAL_SMS_MAX_RETRY_DELAY", 3600),
        "PORTAL_SMS_CLAIM_TIMEOUT": _env_float("PORTAL_SMS_CLAIM_TIMEOUT", 300, above=True),
        # The demo page listing sent SMS; unset: on in demo and development mode only.
        "PORTAL_SMS_OUTBOX_PAGE": _env_bool("PORTAL_SMS_OUTBOX_PAGE", None),
        # Billing: an account whose balance the daily run leaves below this many kopecks
        # is blocked for debt, and unblocked as soon as money brings it back to it (0:
        # blocked below zero; -10000 lets a debt of 100 roubles run before the block).
        "PORTAL_BLOCK_THRESHOLD": _env_int("PORTAL_BLOCK_THRESHOLD", 0, None),
        # Low-balance warnings (portal.domain.billing.low_balance): once per occasion, when
        # the daily run finds the balance lasts this many days or fewer.
        "PORTAL_LOW_BALANCE_DAYS": _env_int("PORTAL_LOW_BALANCE_DAYS", 3),
        # Promised payments (portal.domain.promised): the credit (kopecks), how many days
        # it runs (the day taken included), its fee (kopecks), the days of the month it
        # may be taken on (first..last), how many a month, and when it is offered: the
        # account is blocked for debt or its balance lasts fewer days than this.
        "PORTAL_PROMISED_AMOUNT": _env_int("PORTAL_PROMISED_AMOUNT", 300_00, 1),
        "PORTAL_PROMISED_DAYS": _env_int("PORTAL_PROMISED_DAYS", 5, 1),
        "PORTAL_PROMISED_FEE": _env_int("PORTAL_PROMISED_FEE", 10_00),
        "PORTAL_PROMISED_FIRST_DAY": _env_int("PORTAL_PROMISED_FIRST_DAY", 1, 1, 31),
        "PORTAL_PROMISED_LAST_DAY": _env_int("PORTAL_PROMISED_LAST_DAY", 31, 1, 31),
        "PORTAL_PROMISED_PER_MONTH": _env_int("PORTAL_PROMISED_PER_MONTH", 1),
        "PORTAL_PROMISED_WHEN_DAYS_LEFT": _env_int("PORTAL_PROMISED_WHEN_DAYS_LEFT", 3),
        # Voluntary suspensions (portal.domain.suspension): shortest and longest (days),
        # the fee a paused day and the fee to pause (kopecks, 0: none), paused days
        # allowed a calendar year, free days required between two, how far ahead one
        # may start (days).
        "PORTAL_SUSPENSION_MIN_DAYS": _env_int("PORTAL_SUSPENSION_MIN_DAYS", 7, 1),
        "PORTAL_SUSPENSION_MAX_DAYS": _env_int("PORTAL_SUSPENSION_MAX_DAYS", 90, 1),
        "PORTAL_SUSPENSION_DAILY_FEE": _env_int("PORTAL_SUSPENSION_DAILY_FEE", 0),
        "PORTAL_SUSPENSION_ACTIVATION_FEE": _env_int("PORTAL_SUSPENSION_ACTIVATION_FEE", 0),
        "PORTAL_SUSPENSION_YEAR_DAYS": _env_int("PORTAL_SUSPENSION_YEAR_DAYS", 90),
        "PORTAL_SUSPENSION_MIN_INTERVAL_DAYS": _env_int("PORTAL_SUSPENSION_MIN_INTERVAL_DAYS", 30),
        "PORTAL_SUSPENSION_AHEAD_DAYS": _env_int("PORTAL_SUSPENSION_AHEAD_DAYS", 60),
        # Logs: one JSON object per line (production) or text, on stderr (the journal).
        "PORTAL_LOG_FORMAT": os.environ.get("PORTAL_LOG_FORMAT")
        or ("json" if mode == "production" else "text"),
        "PORTAL_LOG_LEVEL": os.environ.get("PORTAL_LOG_LEVEL", "INFO"),
        # Prometheus metrics at /metrics (portal.metrics), readable only from these
        # addresses or networks (comma-separated; loopback by default); the directories
        # whose multiprocess files it adds up (default: PROMETHEUS_MULTIPROC_DIR).
        "PORTAL_METRICS": _env_bool("PORTAL_METRICS", True),
        "PORTAL_METRICS_ALLOW": os.environ.get("PORTAL_METRICS_ALLOW", "127.0.0.0/8,::1"),
        "PORTAL_METRICS_DIRS": os.environ.get("PORTAL_METRICS_DIRS") or None,
        # Jobs: in-process by default, on Redis (RQ, `portal worker`) when REDIS_URL is set.
        "PORTAL_JOBS_BACKGROUND": _env_bool("PORTAL_JOBS_BACKGROUND", True),
        "PORTAL_JOBS_SWEEP_SECONDS": _env_float("PORTAL_JOBS_SWEEP_SECONDS", 60, above=True),
        "PORTAL_JOBS_QUEUE": os.environ.get("PORTAL_JOBS_QUEUE", "portal"),
        # Web push (portal.domain.push). The VAPID key pair: `portal push keys` writes it
        # into instance/vapid.json, or PORTAL_VAPID_PRIVATE_KEY gives it (32 bytes,
        # base64url). PORTAL_PUSH: on/off; unset, on once there are keys. Production
        # refuses to start with it on and no keys.
        "PORTAL_PUSH_ENABLED": _env_bool("PORTAL_PUSH", None),
        "PORTAL_VAPID_PRIVATE_KEY": os.environ.get("PORTAL_VAPID_PRIVATE_KEY") or None,
        # Who the push services may contact about our pushes (the JWT's "sub").
        "PORTAL_PUSH_SUBJECT": os.environ.get("PORTAL_PUSH_SUBJECT") or None,
        # How long a push service keeps a push for a device that is off, seconds.
        "PORTAL_PUSH_TTL": _env_int("PORTAL_PUSH_TTL", 24 * 3600),
        "PORTAL_PUSH_TIMEOUT": _env_float("PORTAL_PUSH_TIMEOUT", 10, above=True),
        # Seconds beyond the timeout that a send in progress is left to its worker: one
        # that died mid-send leaves it to the sweep after that.
        "PORTAL_PUSH_CLAIM_MARGIN": _env_float("PORTAL_PUSH_CLAIM_MARGIN", 60),
        # 429 and 5xx: retried after PORTAL_PUSH_RETRY_DELAY seconds, doubling.
        "PORTAL_PUSH_MAX_ATTEMPTS": _env_int("PORTAL_PUSH_MAX_ATTEMPTS", 5, 1),
        "PORTAL_PUSH_RETRY_DELAY": _env_float("PORTAL_PUSH_RETRY_DELAY", 30),
        "PORTAL_PUSH_MAX_RETRY_DELAY": _env_float("PORTAL_PUSH_MAX_RETRY_DELAY", 3600),
        # Subscriptions whose endpoint is on a loopback or private address (a test push
        # service); unset: allowed in demo/development only, never in production.
        "PORTAL_PUSH_ALLOW_LOCAL": _env_bool("PORTAL_PUSH_ALLOW_LOCAL", None),
        **payment_config(),
    }


def is_test_mode(config) -> bool:
    """Demo or development: where the test tools (the outbox page, readable sealed texts,
    the sandbox acquirer) may run. Production never is."""
    return config["PORTAL_MODE"] in ("demo", "development")


def sms_outbox_page_enabled(config) -> bool:
    """The demo outbox page: as configured, else on in demo and development mode."""
    explicit = config.get("PORTAL_SMS_OUTBOX_PAGE")
    if explicit is None:
        return is_test_mode(config)
    return bool(explicit)


def resolve_push(cfg, instance_path: str) -> None:
    """The VAPID keys from the environment, else from instance/vapid.json; push on once
    there are keys unless PORTAL_PUSH says otherwise (startup_problems judges it)."""
    from portal.domain.push import keys

    if not cfg.get("PORTAL_VAPID_PRIVATE_KEY"):
        cfg["PORTAL_VAPID_PRIVATE_KEY"] = keys.read_instance_keys(instance_path).get("private_key")
    private = cfg["PORTAL_VAPID_PRIVATE_KEY"]
    try:
        cfg["PORTAL_VAPID_PUBLIC_KEY"] = keys.public_key_of(private) if private else None
    except ValueError:
        cfg["PORTAL_VAPID_PUBLIC_KEY"] = None
    if cfg.get("PORTAL_PUSH_ENABLED") is None:
        cfg["PORTAL_PUSH_ENABLED"] = bool(private)
    if not cfg.get("PORTAL_PUSH_SUBJECT"):
        cfg["PORTAL_PUSH_SUBJECT"] = f"mailto:support@{cfg['PORTAL_SITE']}"
    if cfg.get("PORTAL_PUSH_ALLOW_LOCAL") is None:
        cfg["PORTAL_PUSH_ALLOW_LOCAL"] = is_test_mode(cfg)


def push_problems(cfg) -> list[str]:
    """Push on with no usable key, or a subject the push services do not accept."""
    if not cfg.get("PORTAL_PUSH_ENABLED"):
        return []
    problems = []
    if not cfg.get("PORTAL_VAPID_PUBLIC_KEY"):
        problems.append(
            "web push is on (PORTAL_PUSH) but there is no valid VAPID key: run "
            "`portal push keys`, set PORTAL_VAPID_PRIVATE_KEY, or set PORTAL_PUSH=0"
        )
    if not str(cfg.get("PORTAL_PUSH_SUBJECT", "")).startswith(("mailto:", "https://")):
        problems.append("PORTAL_PUSH_SUBJECT must be a mailto: or https:// address")
    if cfg["PORTAL_MODE"] == "production" and cfg.get("PORTAL_PUSH_ALLOW_LOCAL"):
        problems.append(
            "PORTAL_PUSH_ALLOW_LOCAL would let anyone make the server post to internal "
            "addresses: not allowed in production"
        )
    return problems


def startup_problems(config: dict) -> list[str]:
    """Settings no process may start with, in any mode: a misconfigured SMS gateway or
    acquirer; and in production, a demo tool (the outbox page, the sandbox acquirer) or
    an unsafe setting (a guessable SECRET_KEY, cookies sent over HTTP, debug mode)."""
    from portal.domain import sms

    problems = sms.configuration_problems(config)
    problems += payment_problems(config)
    problems += push_problems(config)
    problems += order_problems(config)
    if config["PORTAL_MODE"] == "production":
        problems += production_problems(config)
    return problems


# Settings that are a range: each bound is checked on its own when read, and the two
# together here (a minimum above its maximum leaves nothing a subscriber can do).
RANGES = [
    ("PORTAL_PAYMENT_MIN", "PORTAL_PAYMENT_MAX"),
    ("PORTAL_PROMISED_FIRST_DAY", "PORTAL_PROMISED_LAST_DAY"),
    ("PORTAL_SUSPENSION_MIN_DAYS", "PORTAL_SUSPENSION_MAX_DAYS"),
]


def order_problems(config: dict) -> list[str]:
    """A range whose lower bound is above its upper one, naming both."""
    return [
        f"{low} ({config[low]}) is above {high} ({config[high]}): nothing lies between them"
        for low, high in RANGES
        if low in config and high in config and config[low] > config[high]
    ]


# A SECRET_KEY signs every session: a short or repetitive one can be guessed offline from
# one cookie. The generated key (instance/secret_key) has 64 characters.
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 10
NEW_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def production_problems(config: dict) -> list[str]:
    """What a production start refuses: each with the setting that fixes it."""
    problems = []
    if config["PORTAL_SMS_OUTBOX_PAGE"]:
        problems.append("PORTAL_SMS_OUTBOX_PAGE is a demo tool: not allowed in production")
    key = str(config.get("SECRET_KEY") or "")
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        problems.append(
            f"SECRET_KEY is too weak: set at least {SECRET_KEY_MIN_LENGTH} random characters "
            f"(e.g. the output of {NEW_SECRET_KEY}), or unset it to use the key generated "
            "in instance/secret_key"
        )
    if not (config.get("SESSION_COOKIE_SECURE") and config.get("REMEMBER_COOKIE_SECURE")):
        problems.append(
            "cookies without the Secure flag would travel over plain HTTP: serve the portal "
            "over HTTPS and unset PORTAL_SECURE_COOKIES (or set PORTAL_SECURE_COOKIES=1)"
        )
    if config.get("DEBUG"):
        problems.append(
            "debug mode shows the code and an interactive console to anyone who causes an "
            "error: unset FLASK_DEBUG (or set FLASK_DEBUG=0) in production"
        )
    return problems


# The provider's bank details for the payment QR code. EXAMPLES ONLY (OneCity demo):
# a real deployment sets every PORTAL_BANK_* variable; until then production offers no QR.
EXAMPLE_BANK_DETAILS = {
    "PORTAL_BANK_PAYEE_NAME": 'ООО "ВанСити" (ПРИМЕР)',
    "PORTAL_BANK_ACCOUNT": "40702810000000000001",
    "PORTAL_BANK_NAME": "РНКБ Банк (ПАО) (ПРИМЕР)",
    "PORTAL_BANK_BIC": "043510607",
    "PORTAL_BANK_CORRESPONDENT_ACCOUNT": "30101810335100000607",
    "PORTAL_BANK_PAYEE_INN": "9103000000",
    "PORTAL_BANK_PAYEE_KPP": "910301001",
}


# Where `portal demo` serves by default: the public origin of a demo or development
# portal that sets no PORTAL_PUBLIC_URL (`portal demo` sets it from --host and --port).
PUBLIC_URL_DEMO_DEFAULT = "http://127.0.0.1:5000"


def _env_optional_bool(name: str) -> bool | None:
    return None if os.environ.get(name) is None else _env_bool(name, False)


def payment_config() -> dict:
    """Online payments: the acquirer, its credentials, limits, and the bank QR details.
    None means "by the mode" (resolve_payments decides once the mode is final)."""
    bank = {name: os.environ.get(name) or example for name, example in EXAMPLE_BANK_DETAILS.items()}
    return {
        # The portal's public origin, e.g. https://my.1city.org: every absolute URL (where
        # the acquirer sends the payer back, where it posts its notifications) is made from
        # it, never from the request's Host or X-Forwarded-Host. Required in production;
        # demo/development default to the demo server's address (PUBLIC_URL_DEMO_DEFAULT).
        "PORTAL_PUBLIC_URL": os.environ.get("PORTAL_PUBLIC_URL") or None,
        # sandbox (the built-in test acquirer, demo/development only), yookassa, or ""
        # (no online card payment; the bank QR code still works).
        # Default: sandbox in demo/development, none in production.
        "PORTAL_PAYMENT_PROVIDER": os.environ.get("PORTAL_PAYMENT_PROVIDER"),
        # The sandbox acquirer's pages (default: on in demo/development); production
        # refuses to start with them on.
        "PORTAL_SANDBOX_ACQUIRER": _env_optional_bool("PORTAL_SANDBOX_ACQUIRER"),
        "PORTAL_SANDBOX_WEBHOOK_KEY": os.environ.get("PORTAL_SANDBOX_WEBHOOK_KEY") or None,
        "PORTAL_SANDBOX_LIFETIME_MINUTES": _env_int("PORTAL_SANDBOX_LIFETIME_MINUTES", 15, 1),
        # How often one address may look at a payment's status (each look asks the acquirer).
        "PORTAL_PAYMENT_STATUS_LIMIT": os.environ.get(
            "PORTAL_PAYMENT_STATUS_LIMIT", "60 per minute"
        ),
        # How many posts one address may send to the notification URLs (an acquirer's
        # bursts stay far below it; a flood of forged posts gets 429).
        "PORTAL_PAYMENT_NOTIFY_LIMIT": os.environ.get(
            "PORTAL_PAYMENT_NOTIFY_LIMIT", "600 per minute"
        ),
        # Limits of one payment, kopecks.
        "PORTAL_PAYMENT_MIN": _env_int("PORTAL_PAYMENT_MIN", 1000, 1),
        "PORTAL_PAYMENT_MAX": _env_int("PORTAL_PAYMENT_MAX", 10000000, 1),
        # YooKassa (https://yookassa.ru/developers): the shop and its 54-FZ receipt.
        "PORTAL_YOOKASSA_SHOP_ID": os.environ.get("PORTAL_YOOKASSA_SHOP_ID", ""),
        "PORTAL_YOOKASSA_SECRET_KEY": os.environ.get("PORTAL_YOOKASSA_SECRET_KEY", ""),
        "PORTAL_YOOKASSA_API_URL": os.environ.get(
            "PORTAL_YOOKASSA_API_URL", "https://api.yookassa.ru/v3"
        ),
        "PORTAL_YOOKASSA_CONNECT_TIMEOUT": _env_float(
            "PORTAL_YOOKASSA_CONNECT_TIMEOUT", 5, above=True
        ),
        "PORTAL_YOOKASSA_READ_TIMEOUT": _env_float("PORTAL_YOOKASSA_READ_TIMEOUT", 15, above=True),
        # vat_code: 1 no VAT, 4 VAT 20 %, 11 VAT 22 % (from 2026); the accountant decides.
        "PORTAL_YOOKASSA_VAT_CODE": _env_int("PORTAL_YOOKASSA_VAT_CODE", 1),
        "PORTAL_YOOKASSA_TAX_SYSTEM_CODE": os.environ.get("PORTAL_YOOKASSA_TAX_SYSTEM_CODE")
        or None,
        "PORTAL_YOOKASSA_PAYMENT_MODE": os.environ.get(
            "PORTAL_YOOKASSA_PAYMENT_MODE", "full_prepayment"
        ),
        "PORTAL_YOOKASSA_PAYMENT_SUBJECT": os.environ.get(
            "PORTAL_YOOKASSA_PAYMENT_SUBJECT", "service"
        ),
        # Comma-separated networks notifications may come from (default: YooKassa's).
        "PORTAL_YOOKASSA_TRUSTED_NETWORKS": tuple(
            n.strip()
            for n in os.environ.get("PORTAL_YOOKASSA_TRUSTED_NETWORKS", "").split(",")
            if n.strip()
        ),
        # The bank QR code (default: in demo/development, or once every detail is set).
        "PORTAL_BANK_QR": _env_optional_bool("PORTAL_BANK_QR"),
        # Printed on receipts with the PORTAL_BANK_* details (each only when set).
        "PORTAL_PROVIDER_OGRN": os.environ.get("PORTAL_PROVIDER_OGRN", ""),
        "PORTAL_PROVIDER_LEGAL_ADDRESS": os.environ.get("PORTAL_PROVIDER_LEGAL_ADDRESS", ""),
        **bank,
    }


def resolve_payments(cfg) -> None:
    """Fill in the payment settings left to the mode (startup_problems judges them)."""
    test_mode = cfg["PORTAL_MODE"] in ("demo", "development")
    if cfg.get("PORTAL_PUBLIC_URL"):
        cfg["PORTAL_PUBLIC_URL"] = str(cfg["PORTAL_PUBLIC_URL"]).strip().rstrip("/")
    elif test_mode:
        cfg["PORTAL_PUBLIC_URL"] = PUBLIC_URL_DEMO_DEFAULT
    if cfg.get("PORTAL_PAYMENT_PROVIDER") is None:
        cfg["PORTAL_PAYMENT_PROVIDER"] = "sandbox" if test_mode else ""
    if cfg.get("PORTAL_SANDBOX_ACQUIRER") is None:
        cfg["PORTAL_SANDBOX_ACQUIRER"] = test_mode
    configured = all(os.environ.get(name) for name in EXAMPLE_BANK_DETAILS)
    if cfg.get("PORTAL_BANK_QR") is None:
        cfg["PORTAL_BANK_QR"] = test_mode or configured
    if cfg.get("PORTAL_RECEIPT_REQUISITES") is None:
        # Receipts print the bank details once they are the provider's own (the examples
        # only in demo/development, where they say they are examples).
        cfg["PORTAL_RECEIPT_REQUISITES"] = test_mode or configured


def public_url_problems(cfg) -> list[str]:
    """PORTAL_PUBLIC_URL: set in production, and an origin (scheme and host) only."""
    url = cfg.get("PORTAL_PUBLIC_URL")
    example = "e.g. PORTAL_PUBLIC_URL=https://my.1city.org"
    if not url:
        return [
            "PORTAL_PUBLIC_URL must be set in production: the portal's public address, "
            f"{example} (the acquirer's return and notification URLs are made from it)"
        ]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        return [f"PORTAL_PUBLIC_URL must be a scheme and a host only, {example}, not {url!r}"]
    if parts.query or parts.fragment or parts.username or parts.password:
        return [f"PORTAL_PUBLIC_URL must be a scheme and a host only, {example}, not {url!r}"]
    if cfg["PORTAL_MODE"] == "production" and parts.scheme != "https":
        return [f"PORTAL_PUBLIC_URL must be https:// in production, {example}"]
    return []


def payment_problems(cfg) -> list[str]:
    """A payment configuration that would take or lose money by mistake, or send the
    payer and the acquirer's notifications to a wrong address."""
    from limits import parse_many

    from portal.domain.payments.acquirers import ACQUIRERS, acquirer_class
    from portal.domain.payments.errors import UnknownProvider

    provider = cfg["PORTAL_PAYMENT_PROVIDER"]
    problems = public_url_problems(cfg)
    if cfg["PORTAL_MODE"] == "production" and (
        provider == "sandbox" or cfg["PORTAL_SANDBOX_ACQUIRER"]
    ):
        problems.append(
            "the sandbox acquirer credits money for test cards: it cannot run in production "
            "(set PORTAL_PAYMENT_PROVIDER to a real acquirer and PORTAL_SANDBOX_ACQUIRER=0)"
        )
    for name in ("PORTAL_PAYMENT_STATUS_LIMIT", "PORTAL_PAYMENT_NOTIFY_LIMIT"):
        try:
            parse_many(str(cfg[name]))
        except ValueError:
            problems.append(f"{name} must be a rate such as '600 per minute', not {cfg[name]!r}")
    if provider == "sandbox" and not cfg["PORTAL_SANDBOX_ACQUIRER"]:
        problems.append("PORTAL_PAYMENT_PROVIDER=sandbox needs PORTAL_SANDBOX_ACQUIRER=1")
    if provider:
        try:
            problems += acquirer_class(provider).configuration_problems(cfg)
        except UnknownProvider:
            problems.append(
                f"PORTAL_PAYMENT_PROVIDER={provider!r} names no acquirer: set it to one of "
                f"{', '.join(ACQUIRERS)}, or leave it empty for no online payment"
            )
    return problems
