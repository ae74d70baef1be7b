"""The `portal` command: Flask's CLI with the portal's own commands.

portal demo                 migrate, load demo data (once), serve on 127.0.0.1:5000
portal db upgrade           apply the migrations (Flask-Migrate)
portal subscriber add ...   create an account as a contract is signed
portal staff add ...        create a staff account for the console (the first admin)
portal billing run          charge every day not charged yet, up to today (or --date), then
                            warn the accounts whose balance lasts a few days more (once)
portal sms outbox           the latest text messages (sealed texts opened in demo/dev only)
portal sms deliver          send the due text messages now
portal worker               run the jobs from Redis (RQ) when REDIS_URL is set
portal payments reconcile   settle the payments left unfinished (asks the acquirer)
portal push deliver         send the due web pushes now
portal push keys            make the VAPID keys web push is signed with (instance/vapid.json)
portal visits remind        send the due evening-before visit reminders (safe to repeat)
"""

import os
from datetime import date
from typing import NoReturn

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from flask_migrate import upgrade
from werkzeug.serving import run_simple

from portal import clock, config
from portal.domain import billing, staff, subscribers
from portal.domain.billing import low_balance
from portal.domain.errors import DomainError, DuplicateContract, DuplicateLogin, InvalidInput
from portal.extensions import db
from portal.models import StaffRole


def _create_app() -> Flask:
    """The app, or the command fails with what is wrong with the settings (a message,
    not a traceback)."""
    from portal import create_app

    try:
        return create_app()
    except config.SettingError as exc:
        raise click.ClickException(str(exc)) from None


class PortalGroup(FlaskGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        """For --help: with settings the app refuses, the message and the commands that
        need no app (Flask would print the refusal as a traceback)."""
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except click.ClickException as exc:
            click.secho(f"Error: {exc.format_message()}\n", err=True, fg="red")
            self._load_plugin_commands()
            return sorted(self.commands)
        return super().list_commands(ctx)


main = PortalGroup(
    create_app=_create_app, add_default_commands=True, help="The subscriber portal's command line."
)


@main.command("demo", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Prepare the database and exit.")
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """Create the database if needed, load the demo provider once, and serve it (in demo
    or development mode only: never into a production database)."""
    from portal import demo

    os.environ.setdefault("PORTAL_MODE", "demo")
    # The sandbox sends the payer back, and posts its notifications, to this origin.
    # (bandit B104 takes the comparison with "0.0.0.0" for a bind to every interface)
    served = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # nosec B104
    served = f"[{served}]" if ":" in served else served
    os.environ.setdefault("PORTAL_PUBLIC_URL", f"http://{served}:{port}")
    app = _create_app()
    if not config.is_test_mode(app.config):
        # Its subscribers and its admin sign in with the passwords printed below (and in
        # the README): never in a production database.
        raise click.ClickException(
            "portal demo adds the demo subscribers and a demo admin with published "
            "passwords: it runs only with PORTAL_MODE=demo or development, not "
            f"{app.config['PORTAL_MODE']}"
        )
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        today = clock.local_today(app.config["PORTAL_TIMEZONE"])
        created = demo.load(
            db.session,
            today=today,
            tz=app.config["PORTAL_TIMEZONE"],
            block_threshold=app.config["PORTAL_BLOCK_THRESHOLD"],
        )
        demo.load_staff(db.session)
        demo.load_promotion(db.session, today)
        db.session.commit()
    click.echo("Demo data loaded." if created else "Demo data already present: kept as is.")
    click.echo(f"Portal: http://{host}:{port}/")
    click.echo(f"Sign in with login: {demo.DEMO_LOGIN}  password: {demo.DEMO_PASSWORD}")
    click.echo(f"(or contract number {demo.DEMO_CONTRACT} and the same password)")
    click.echo(
        f"Staff console: http://{host}:{port}/staff/  login: {demo.DEMO_ADMIN_LOGIN}  "
        f"password: {demo.DEMO_ADMIN_PASSWORD}"
    )
    if no_serve:
        return
    # Werkzeug's server is plenty for a demo; production runs gunicorn (see README).
    run_simple(host, port, app, threaded=True)


def _refuse(error: DomainError) -> NoReturn:
    """Nothing is written; the command fails saying why."""
    db.session.rollback()
    if isinstance(error, DuplicateContract):
        message = f"contract {error} is taken (as a contract or a login)"
    elif isinstance(error, DuplicateLogin):
        message = f"login {error} is already taken"
    else:
        message = f"invalid {error}"
    raise click.ClickException(message) from None


@click.group("subscriber")
def subscriber_group() -> None:
    """Subscriber accounts."""


@subscriber_group.command("add")
@click.option("--contract", required=True, help="Contract number.")
@click.option("--name", required=True, help="Full name.")
@click.option("--phone", required=True, help="Mobile phone, any usual spelling.")
@click.option("--login", default=None, help="Login (default: the contract number).")
@click.option("--password", default=None, help="Password (default: generated).")
@click.option("--address", default="", help="Service address.")
@click.option(
    "--account",
    "personal_account",
    default=None,
    help="Personal account number (default: the contract number).",
)
@click.option("--tariff", "tariffs", multiple=True, help="Tariff code; repeat for TV.")
@click.option("--service", "services", multiple=True, help="Add-on service code.")
@with_appcontext
def subscriber_add(
    contract, name, phone, login, password, address, personal_account, tariffs, services
) -> None:
    """Create an account as it is created when a contract is signed."""
    try:
        new = subscribers.create_subscriber(
            db.session,
            contract_number=contract,
            name=name,
            phone=phone,
            login=login,
            password=password,
            address=address,
            personal_account=personal_account,
            tariff_codes=tuple(tariffs),
            service_codes=tuple(services),
            start=clock.provider_today(),
        )
    except DomainError as exc:
        _refuse(exc)
    kinds = [s.tariff.kind for s in new.account.subscriptions if s.tariff is not None]
    if len(set(kinds)) != len(kinds):
        # Each would be charged every day: the import and the staff's form take one
        # internet tariff and one TV tariff, and so does the shell.
        _refuse(InvalidInput("tariffs: one internet tariff and one TV tariff at most"))
    db.session.commit()
    click.echo(f"Contract: {new.account.contract_number}")
    click.echo(f"Login:    {new.person.login}")
    click.echo(f"Password: {new.password}")
    click.echo("The password is shown only now: print it in the contract.")


@click.group("staff")
def staff_group() -> None:
    """Staff accounts of the console."""


@staff_group.command("add")
@click.option("--login", required=True, help="Login for the console.")
@click.option("--name", required=True, help="Full name.")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in StaffRole]), help="What they do."
)
@click.option("--password", default=None, help="Password (default: generated and printed).")
@with_appcontext
def staff_add(login, name, role, password) -> None:
    """Create a staff account (the first admin is made this way)."""
    try:
        new = staff.create_staff(
            db.session, login=login, name=name, role=role, password=password, actor="cli"
        )
    except DomainError as exc:
        _refuse(exc)
    db.session.commit()
    click.echo(f"Staff:    {new.member.name} ({new.member.role.value})")
    click.echo(f"Login:    {new.member.login}")
    if password is None:
        click.echo(f"Password: {new.password}")
        click.echo("The password is shown only now.")


@staff_group.command("password")
@click.option("--login", required=True, help="The member's login.")
@with_appcontext
def staff_password(login) -> None:
    """A new password for a staff member, printed once; their sessions end and a paused
    sign-in starts again (the way back for an admin locked out of the console)."""
    member = staff.find_by_login(db.session, login)
    if member is None:
        raise click.ClickException(f"No staff member with the login {login!r}.")
    password = staff.reset_password(db.session, member, by=None, address=None)
    db.session.commit()
    click.echo(f"Login:    {member.login}")
    click.echo(f"Password: {password}")
    click.echo("The password is shown only now.")


@click.group("billing")
def billing_group() -> None:
    """Charges."""


@billing_group.command("run")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Charge up to this day (default: today in the provider's time zone).",
)
@with_appcontext
def billing_run(day) -> None:
    """Charge every day not charged yet up to the day, each in its own transaction (a
    run missed is caught up); safe to repeat, and to start twice at once."""
    today = clock.provider_today()
    through: date = day.date() if day else today
    if through > today:
        # A charged day is never taken back (append-only): refuse before it is charged.
        raise click.BadParameter(
            f"{through} is after today ({today}) in the provider's time zone",
            param_hint="--date",
        )
    days = billing.days_to_run(db.session, through)
    if not days:
        click.echo(f"{through}: already charged")
    for the_day in days:
        result = billing.run_day(
            db.session,
            the_day,
            block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
            actor="cli",
        )
        db.session.commit()
        if result.already_run:
            click.echo(f"{the_day}: already charged")
            continue
        click.echo(
            f"{the_day}: charged {result.charged_accounts} accounts, "
            f"{result.kopecks / 100:.2f} RUB, blocked for debt: {result.blocked}, "
            f"unblocked: {result.unblocked}"
        )
    warned = low_balance.warn(
        db.session,
        through,
        days=current_app.config["PORTAL_LOW_BALANCE_DAYS"],
        block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
    )
    db.session.commit()
    click.echo(
        f"{through}: low-balance warnings: {warned.warned} sent, "
        f"{warned.recovered} accounts recovered"
    )


@click.group("sms")
def sms_group() -> None:
    """Text messages."""


@sms_group.command("outbox")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def sms_outbox(limit: int) -> None:
    """List the latest messages, newest first."""
    from portal.domain.sms import outbox

    cfg = current_app.config
    reveal = cfg["SECRET_KEY"] if config.is_test_mode(cfg) else None
    messages = outbox.recent_messages(db.session, limit=limit, reveal_with=reveal)
    if not messages:
        click.echo("No messages.")
    for message in messages:
        click.echo(
            f"#{message.id} {message.created_at:%Y-%m-%d %H:%M} UTC {message.to_phone} "
            f"{message.purpose} {message.status} attempts={message.attempts}"
            + (f" error={message.last_error}" if message.last_error else "")
        )
        click.echo(f"    {message.text}")


@sms_group.command("deliver")
@with_appcontext
def sms_deliver() -> None:
    """Send every message that is due, here and now."""
    from portal.domain.sms import delivery, make_gateway

    gateway = make_gateway(current_app.config)
    policy = delivery.policy_from(current_app.config, gateway)
    session = db.new_session()
    try:
        sent = delivery.deliver_due(session, gateway=gateway, policy=policy)
    finally:
        session.close()
    click.echo(f"Sent: {sent}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run the job queue from Redis (RQ); needs REDIS_URL."""
    from portal import jobs

    app = current_app._get_current_object()
    if not jobs.is_redis(app):
        raise click.ClickException(
            "REDIS_URL is not set: jobs run inside the portal's own processes"
        )
    jobs.run_worker(app, burst=burst)


@click.group("payments")
def payments_group() -> None:
    """Online payments."""


@payments_group.command("reconcile")
@with_appcontext
def payments_reconcile() -> None:
    """Ask the acquirer about every payment left unfinished (a lost notification, a crash
    between steps) and settle it as a notification would; safe to repeat."""
    from portal.domain.payments import reconcile
    from portal.domain.payments.acquirers import acquirer_for

    result = reconcile.ReconcileResult()
    acquirers = {}

    def provider_for(name: str):
        if name not in acquirers:
            acquirers[name] = acquirer_for(name, current_app.config, db.session)
        return acquirers[name]

    for payment_id in reconcile.unfinished(db.session):
        try:
            reconcile.reconcile_one(
                db.session,
                payment_id,
                provider_for,
                result,
                block_threshold=current_app.config["PORTAL_BLOCK_THRESHOLD"],
            )
            db.session.commit()
        except Exception as exc:  # one bad payment must not stop the others
            db.session.rollback()
            click.echo(f"payment {payment_id}: {type(exc).__name__}: {exc}", err=True)
    for payment_id in reconcile.awaiting_fiscal_receipt(db.session):
        try:
            reconcile.refresh_fiscal_receipt(db.session, payment_id, provider_for, result)
            db.session.commit()
        except Exception as exc:  # the receipt can wait for the next run
            db.session.rollback()
            click.echo(f"payment {payment_id} receipt: {type(exc).__name__}: {exc}", err=True)
    click.echo(
        f"checked {result.checked}: succeeded {result.succeeded}, canceled {result.canceled}, "
        f"still open {result.still_open}, acquirer unavailable {result.unavailable}, "
        f"on review {result.review}; fiscal receipts updated {result.receipts_updated}"
    )


@click.group("push")
def push_group() -> None:
    """Web push."""


@push_group.command("deliver")
@with_appcontext
def push_deliver() -> None:
    """Send every web push that is due, here and now, and hand on a promotion's push
    whose next batch was lost."""
    from portal import jobs
    from portal.domain.promos import pushing
    from portal.domain.push import sending

    session = db.new_session()
    try:
        outcomes = sending.sweep_job(session, current_app.config)
        pushing.sweep_job(session, current_app.config)
        session.commit()
    finally:
        session.close()
    app = current_app._get_current_object()
    if not jobs.is_redis(app):
        jobs.drain(app)  # the batches handed on: this process's own queue holds them
    sent, retry = outcomes[sending.Outcome.SENT], outcomes[sending.Outcome.RETRY]
    failed, gone = outcomes[sending.Outcome.FAILED], outcomes[sending.Outcome.REMOVED]
    click.echo(f"Sent: {sent}, to try again: {retry}, failed: {failed}, devices gone: {gone}")


@push_group.command("keys")
@click.option("--replace", is_flag=True, help="New keys: every device must subscribe again.")
@with_appcontext
def push_keys(replace: bool) -> None:
    """Write the VAPID key pair into the instance folder (never into the repository), once;
    print the public key."""
    from portal.domain.push import keys

    path = keys.key_file(current_app.instance_path)
    existed = path.exists()
    made = keys.write_instance_keys(current_app.instance_path, replace=replace)
    if existed and not replace:
        click.echo(f"Keeping the keys in {path} (--replace makes new ones).")
    else:
        click.echo(f"Wrote the keys to {path}.")
    click.echo(f"Public key: {made['public_key']}")


@click.group("visits")
def visits_group() -> None:
    """Technician visits."""


@visits_group.command("remind")
@with_appcontext
def visits_remind() -> None:
    """Send the evening-before reminders that are due, each once; safe to run every few
    minutes (from cron or a timer)."""
    from portal.domain import visits
    from portal.domain.visits import reminders

    sent = reminders.send_due(db.session, visits.policy_from(current_app.config))
    click.echo(f"Reminders sent: {sent}")


def init_app(app: Flask) -> None:
    for command in (
        subscriber_group,
        staff_group,
        billing_group,
        sms_group,
        worker_command,
        payments_group,
        push_group,
        visits_group,
    ):
        app.cli.add_command(command)


if __name__ == "__main__":
    main()
