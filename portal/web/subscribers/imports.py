"""Importing subscribers in the console: upload a CSV for a dry run, start the real run
(a background job whose progress the page polls), download the refused rows, print the
credentials sheets of the new subscribers."""

import segno
from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge

from portal import jobs
from portal.domain import audit, imports
from portal.domain.errors import NotFound
from portal.extensions import client_address, csrf, db
from portal.htmx import is_htmx, render
from portal.models import ImportState, RowOutcome, StaffRole, TariffKind
from portal.web.filters import tariff_kind
from portal.web.forms import FileForm
from portal.web.staff.access import current_staff, requires_roles
from portal.web.subscribers.staff import sheet_html
from portal.web.urls import external_url

bp = Blueprint("imports_staff", __name__, url_prefix="/staff/subscribers/import")

SHOWN = 200  # rows of each kind listed on the page; the report has them all
# Room for the form's other fields and the multipart framing around the file.
_FORM_ROOM = 64 * 1024


class UploadForm(FileForm):
    """The file exported from the billing system (kept here: only this page uses it)."""

    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose the file to import."))])


COLUMN_LABELS = {
    "contract": _l("contract"),
    "name": _l("name"),
    "phone": _l("phone"),
    "address": _l("address"),
    "district": _l("district"),
    "tariffs": _l("tariffs"),
    "addons": _l("add-ons"),
    "login": _l("login"),
}

FILE_PROBLEMS = {
    "too_big": _l("The file is too large: at most %(size)s MB."),
    "empty": _l("The file is empty."),
    "binary": _l("This is not a CSV file: save the table as CSV (text) and upload that."),
    "no_header": _l(
        "The first line must name the columns: contract, name, phone, address, district, "
        "tariffs, add-ons (in Russian or English)."
    ),
    "unknown_columns": _l("Unknown columns: %(names)s."),
    "unnamed_columns": _l(
        "The first line names no column number %(names)s: name it or delete the column."
    ),
    "repeated_columns": _l("Columns named twice: %(names)s."),
    "missing_columns": _l("The file has no columns: %(names)s."),
    "malformed": _l("The file is not valid CSV (an unclosed quote?) near line %(names)s."),
}

REASONS = {
    "cells": _l("More cells than columns (%(detail)s)."),
    "duplicate": _l("The contract is already on line %(detail)s of the file."),
    "too_long": _l("Too long: %(column)s."),
    "unreadable": _l("Characters that cannot be read in %(column)s: another encoding?"),
    "missing": _l("Empty: %(column)s."),
    "district": _l("Unknown district “%(detail)s”."),
    "contract": _l("The contract number: letters, digits, “-” or “/”, up to 32 characters."),
    "login": _l("The login: 3 to 64 Latin letters, digits, “.”, “_” or “-”."),
    "phone": _l("This does not look like a mobile phone number."),
    "tariff": _l("Unknown tariff “%(detail)s”."),
    "two_tariffs": _l("Two tariffs of one kind (%(detail)s)."),
    "addon": _l("Unknown add-on “%(detail)s”."),
    "tariff_archived": _l("The tariff “%(detail)s” is archived: a new contract cannot have it."),
    "addon_archived": _l("The add-on “%(detail)s” is archived: a new contract cannot have it."),
    "contract_taken": _l("The contract number is someone's login or personal account."),
    "login_taken": _l("The login is taken."),
}


STATES = {
    ImportState.CHECKED: _l("dry run done"),
    ImportState.QUEUED: _l("waiting to start"),
    ImportState.RUNNING: _l("running"),
    ImportState.DONE: _l("done"),
    ImportState.FAILED: _l("broken off"),
}


def state_label(state: ImportState) -> str:
    return str(STATES[state])


def reason_text(code: str | None, detail: str | None) -> str:
    """A row's reason in the reader's language."""
    if code is None:
        return ""
    column = COLUMN_LABELS.get(detail or "", detail or "")
    if code == "two_tariffs" and detail in set(TariffKind):
        detail = tariff_kind(TariffKind(detail))
    return str(REASONS.get(code, code)) % {"detail": detail or "", "column": column}


def changes_text(detail: str | None) -> str:
    """What an update changes: "name, phone"."""
    return ", ".join(str(COLUMN_LABELS.get(n, n)) for n in (detail or "").split(",") if n)


def _page(form: UploadForm, status: int = 200, problem: str | None = None):
    return render(
        "subscribers/staff/import.html",
        block="upload_form",
        status=status,
        form=form,
        problem=problem,
        batches=imports.latest(db.session),
        state_label=state_label,
    )


@bp.route("/", methods=["GET"])
@requires_roles(StaffRole.OPERATOR)
def index():
    return _page(UploadForm())


@bp.route("/", methods=["POST"])
@csrf.exempt  # the form checks its own token: the global check would read the body first
@requires_roles(StaffRole.OPERATOR)
def upload():
    """The dry run: read the file, judge every row, show what the real run would do."""
    max_bytes = current_app.config["PORTAL_IMPORT_MAX_BYTES"]
    # Only this form may be large: every other keeps the small global limit.
    request.max_content_length = max_bytes + _FORM_ROOM
    too_big = str(FILE_PROBLEMS["too_big"]) % {"size": max_bytes // (1024 * 1024) or 1}
    try:
        form = UploadForm()
        valid = form.validate_on_submit()
    except RequestEntityTooLarge:
        return _page(UploadForm(formdata=None), 413, too_big)
    if not valid:
        problem = (
            None if form.file.errors else _("The form has expired. Reload the page and try again.")
        )
        return _page(form, 400, problem)
    upload = form.file.data
    data = upload.read(max_bytes + 1)
    try:
        parsed = imports.read(data, max_bytes=max_bytes)
    except imports.FileProblem as exc:
        if exc.code == "too_big":
            return _page(form, 413, too_big)
        names = ", ".join(str(COLUMN_LABELS.get(n, n)) for n in exc.names)
        return _page(form, 400, str(FILE_PROBLEMS[exc.code]) % {"names": names})
    batch = imports.check(
        db.session,
        parsed,
        staff_id=current_staff().id,
        file_name=upload.filename or "",
        districts=current_app.config["PORTAL_DISTRICTS"],
    )
    db.session.commit()
    return redirect(url_for("imports_staff.show", import_id=batch.id), 303)


def _import_or_404(import_id: int, staff_id: int | None = None):
    try:
        return imports.of_member(db.session, import_id, staff_id)
    except NotFound:
        abort(404)


@bp.route("/<id:import_id>")
@requires_roles(StaffRole.OPERATOR)
def show(import_id: int):
    """The dry run's report and the real run's progress; htmx polls the progress block."""
    batch = _import_or_404(import_id)
    ran = batch.state is not ImportState.CHECKED
    member = current_staff()
    whole = not is_htmx()  # polled every second: the progress block alone is read
    return render(
        "subscribers/staff/import_report.html",
        block="progress",
        batch=batch,
        ran=ran,
        planned=(
            imports.planned_counts(db.session, batch.id) if whole else dict.fromkeys(RowOutcome, 0)
        ),
        refused=(
            imports.rows_of(db.session, batch.id, [RowOutcome.REFUSE], real=ran, limit=SHOWN)
            if whole
            else []
        ),
        updates=(
            imports.rows_of(db.session, batch.id, [RowOutcome.UPDATE], real=ran, limit=SHOWN)
            if whole
            else []
        ),
        sheets_left=(
            imports.sheets_left(db.session, batch.id)
            if batch.state is ImportState.DONE and batch.staff_id == member.id
            else 0
        ),
        reason_text=reason_text,
        changes_text=changes_text,
        state_label=state_label,
        shown=SHOWN,
        outcomes=RowOutcome,
        states=ImportState,
        contract_at=imports.column_index(batch.header, "contract"),
    )


@bp.route("/<id:import_id>/run", methods=["POST"])
@requires_roles(StaffRole.OPERATOR)
def run(import_id: int):
    """Start the real run as a background job (once, however often it is asked)."""
    batch = _import_or_404(import_id)
    if imports.start(
        db.session,
        batch.id,
        actor=audit.staff_actor(current_staff().id),
        address=client_address(),
    ):
        jobs.enqueue_after_commit(db.session, imports.run_job, batch.id)
    db.session.commit()
    return redirect(url_for("imports_staff.show", import_id=batch.id), 303)


@bp.route("/<id:import_id>/refused.csv")
@requires_roles(StaffRole.OPERATOR)
def report(import_id: int):
    """The refused rows with their reasons, for a spreadsheet."""
    batch = _import_or_404(import_id)
    ran = batch.state is not ImportState.CHECKED
    rows = imports.rows_of(db.session, batch.id, [RowOutcome.REFUSE], real=ran, limit=None)
    body = imports.report_csv(
        [_("Line"), _("Reason"), *batch.header],
        ((row.line, reason_text(row.reason, row.detail), row.cells) for row in rows),
    )
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="refused-{batch.id}.csv"'},
    )


@bp.route("/<id:import_id>/sheets", methods=["POST"])
@requires_roles(StaffRole.OPERATOR)
def sheets(import_id: int):
    """The next credentials sheets of the new subscribers, for the member who ran the
    import only; their passwords are made now and shown in this answer alone."""
    member = current_staff()
    batch = _import_or_404(import_id, member.id)
    printed = imports.print_sheets(
        db.session, batch.id, staff_id=member.id, address=client_address()
    )
    db.session.commit()
    sign_in_url = external_url("auth.login")
    if not printed:
        return redirect(url_for("imports_staff.show", import_id=batch.id), 303)
    qr = segno.make(sign_in_url, error="m").svg_data_uri(scale=4, border=2)
    return render(
        "subscribers/staff/import_sheets.html",
        batch=batch,
        count=len(printed),
        # An imported subscriber has chosen no language yet: the portal's own.
        sheets=[
            sheet_html(
                None,
                id=f"sheet-{number}",
                contract=sheet.contract_number,
                name=sheet.name,
                login=sheet.login,
                password=sheet.password,
                sign_in_url=sign_in_url,
                qr=qr,
            )
            for number, sheet in enumerate(printed, 1)
        ],
        left=imports.sheets_left(db.session, batch.id),
    )
