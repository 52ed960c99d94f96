"""The answers to requests that no route takes: a redirect, automatic OPTIONS, a 405 or an HTML 404."""

from __future__ import annotations

from sf_emulator.http.responses import RawResponse, Response
from sf_emulator.http.router import Resolution

# What Flask (Werkzeug 2.2) and gunicorn send outside the API's own {"error", "status"} answers, byte for byte as
# the real 0.7.2 server sent them.
NOT_FOUND_HTML = (
    b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
    b'<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling'
    b' and try again.</p>\n'
)
METHOD_NOT_ALLOWED = 'The method is not allowed for the requested URL.'
GUNICORN_500_HTML = (
    b'<html>\n  <head>\n    <title>Internal Server Error</title>\n  </head>\n  <body>\n'
    b'    <h1><p>Internal Server Error</p></h1>\n    \n  </body>\n</html>\n'
)
HTML = 'text/html; charset=utf-8'
# Werkzeug's url_quote(safe='/:|+') on a redirect path: its always-safe set is wider than urllib's.
REDIRECT_SAFE = "/:|+$!'()*,;"
_HTML_ESCAPES = str.maketrans({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;'})


def unrouted(resolution: Resolution, method: str, location: str | None) -> RawResponse | Response:
    """Flask's answers when no API handler runs: a redirect (to `location`), automatic OPTIONS, a 405 or an HTML
    404."""
    allow = {'Allow': ', '.join(sorted(resolution.allowed))}
    if location is not None:
        shown = location.translate(_HTML_ESCAPES)
        page = (
            '<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n'
            f'<p>You should be redirected automatically to the target URL: <a href="{shown}">{shown}</a>. If'
            ' not, click the link.\n'
        )
        return RawResponse(page.encode('utf-8'), HTML, 308, {'Location': location})
    if resolution.broken_405:
        return RawResponse(GUNICORN_500_HTML, 'text/html', 500)
    if resolution.allowed and method == 'OPTIONS':
        return RawResponse(b'', HTML, 200, allow)
    if resolution.allowed:
        return Response({'message': METHOD_NOT_ALLOWED}, 405, allow)  # flask-restful's shape, not the API's
    return RawResponse(NOT_FOUND_HTML, HTML, 404)
