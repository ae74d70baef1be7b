"""htmx helpers: the page on a normal request, its block on an htmx request."""

import json

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """An htmx request that wants a fragment (a boosted navigation wants the page)."""
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


def render(template: str, block: str = "content", status: int = 200, **context) -> Response:
    """The whole page, or only `block` of it when htmx asks for a fragment."""
    if is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def trigger(response: Response, event: str, detail: object = True) -> Response:
    """Tell the page something happened (HX-Trigger); merges with events already set."""
    events = json.loads(response.headers.get("HX-Trigger", "{}") or "{}")
    events[event] = detail
    # ASCII only (\u escapes, which htmx's JSON.parse reads back): a header is sent as
    # Latin-1, and a Russian toast written raw fails the whole answer in the server.
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def hx_redirect(url: str) -> Response:
    """Send htmx to a full page load of `url` rather than swapping a redirect into a fragment."""
    response = make_response("", 200)
    response.headers["HX-Redirect"] = url
    return response
