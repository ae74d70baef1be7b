"""The OneCity subscriber portal: create_app builds the Flask application."""

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import config

PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(test_config: dict | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, error pages, CLI. The instance folder
    (generated secret key, push keys) is Flask's `instance/` unless one is given."""
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config.default_config(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.load_secret_key(app.instance_path)
    if app.config["PORTAL_MODE"] not in config.MODES:
        raise config.SettingError(f"PORTAL_MODE must be one of {', '.join(config.MODES)}")
    config.resolve_payments(app.config)
    config.resolve_push(app.config, app.instance_path)
    _check_startup(app)

    proxies = app.config["PORTAL_TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    _init_extensions(app)
    from portal.web.ids import IdConverter

    app.url_map.converters["id"] = IdConverter  # every route's row id: <id:name>
    _register_blueprints(app)

    from portal import cli, security

    security.init_app(app)
    cli.init_app(app)
    return app


def _check_startup(app: Flask) -> None:
    """A misconfigured portal refuses to start, saying what is wrong."""
    problems = config.startup_problems(app.config)
    if problems:
        raise config.SettingError("refusing to start: " + "; ".join(problems))


def _init_extensions(app: Flask) -> None:
    from portal import auth_session, compression, i18n, jobs, logs, metrics
    from portal.extensions import csrf, db, limiter, login_manager, migrate

    # First: every later hook's log lines carry the request id, and the timing covers them.
    logs.init_app(app)
    metrics.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    csrf.init_app(app)
    compression.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    login_manager.init_app(app)
    auth_session.init_app(app)
    jobs.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from portal.web.addons.views import bp as addons_bp
    from portal.web.auth.views import bp as auth_bp
    from portal.web.catalog.staff import bp as catalog_staff_bp
    from portal.web.errors import init_app as init_errors
    from portal.web.filters import init_app as init_filters
    from portal.web.health.views import bp as health_bp
    from portal.web.history.views import bp as history_bp
    from portal.web.home.views import bp as home_bp
    from portal.web.payments.staff import bp as payments_staff_bp
    from portal.web.payments.views import bp as payments_bp
    from portal.web.profile.views import bp as profile_bp
    from portal.web.promised.views import bp as promised_bp
    from portal.web.promos.staff import bp as promos_staff_bp
    from portal.web.promos.views import bp as promos_bp
    from portal.web.push.views import bp as push_bp
    from portal.web.pwa.views import bp as pwa_bp
    from portal.web.sms.staff import bp as sms_staff_bp
    from portal.web.sms.views import bp as sms_bp
    from portal.web.staff import access as staff_access
    from portal.web.staff.team import bp as team_staff_bp
    from portal.web.staff.views import bp as staff_bp
    from portal.web.subscribers import view_as
    from portal.web.subscribers.imports import bp as imports_staff_bp
    from portal.web.subscribers.staff import bp as subscribers_staff_bp
    from portal.web.suspension.views import bp as suspension_bp
    from portal.web.tariffs.views import bp as tariffs_bp
    from portal.web.visits.staff import bp as visits_staff_bp
    from portal.web.visits.views import bp as visits_bp

    if app.config["PORTAL_SANDBOX_ACQUIRER"]:
        from portal.web.payments.sandbox import bp as sandbox_bp

        app.register_blueprint(sandbox_bp)
    for bp in (
        # First: its guard of a staff member's read-only view runs before any other hook.
        view_as.bp,
        health_bp,
        auth_bp,
        home_bp,
        history_bp,
        payments_bp,
        tariffs_bp,
        addons_bp,
        promised_bp,
        suspension_bp,
        visits_bp,
        promos_bp,
        profile_bp,
        push_bp,
        pwa_bp,
        sms_bp,
        staff_bp,
        subscribers_staff_bp,
        imports_staff_bp,
        payments_staff_bp,
        sms_staff_bp,
        team_staff_bp,
        catalog_staff_bp,
        visits_staff_bp,
        promos_staff_bp,
    ):
        app.register_blueprint(bp)
    init_errors(app)
    init_filters(app)
    staff_access.init_app(app)
    view_as.init_app(app)
