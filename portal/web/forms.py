"""The base of every form of the portal."""

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto  # FlaskForm's "formdata not given" marker
from werkzeug.datastructures import CombinedMultiDict


class Form(FlaskForm):
    """A FlaskForm that reads only form-encoded fields.

    Flask-WTF would also read a JSON body as the form's data, handing a number, a list,
    an object or null to validators written for text (a 500). Our forms are posted by
    browsers, so a JSON body is simply no data: the form answers "required", a 400.
    """

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                return request.form if request.method in ("POST", "PUT", "PATCH") else None
            return formdata


class FileForm(Form):
    """A form that posts a file too (multipart): it reads the files besides the fields."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is _Auto:
                if request.method != "POST":
                    return None
                return CombinedMultiDict((request.files, request.form))
            return formdata
