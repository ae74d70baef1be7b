"""Compressed answers: Flask-Compress, set up in config.py (which types, which methods)."""

from flask import Flask, Response, current_app, request

from portal.extensions import compress


def read_static_file_whole(response: Response) -> Response:
    """A static file is streamed from disk, and Flask-Compress would compress the stream
    and leave the file open until garbage collection. Ours are small (htmx, 52 KB, is the
    largest): read whole, the file closes at once and the compressed answer has a length."""
    if request.endpoint != "static" or not response.is_streamed:
        return response  # not a file from disk (the cheap questions first: every answer asks)
    if response.mimetype in current_app.config["COMPRESS_MIMETYPES"]:
        response.direct_passthrough = False
        response.make_sequence()
    return response


def init_app(app: Flask) -> None:
    compress.init_app(app)
    # Registered after Flask-Compress, so it runs before it (Flask runs them in reverse).
    app.after_request(read_static_file_whole)
