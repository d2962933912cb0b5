"""Error pages: HTML for a browser on the dashboard, the API's JSON envelope for the rest."""

from __future__ import annotations

from django.shortcuts import render

from mifumo.tenancy import errors as api_errors

_PAGES = {
    403: ("Not allowed", "Your role in this organisation cannot open this page."),
    404: ("Not found", "There is nothing here, or it belongs to another organisation."),
    500: ("Something went wrong", "The error has been logged. Please try again."),
}


def _is_page(request) -> bool:
    # Browsers ask for text/html; API clients and scripts (curl, httpx) do not.
    return not request.path.startswith(
        ("/api/", "/healthz")
    ) and "text/html" in request.headers.get("Accept", "")


def _page(request, status: int, exception=None):
    title, message = _PAGES[status]
    if status == 403 and exception is not None and str(exception):
        message = str(exception)
    return render(request, "web/error.html", {"title": title, "message": message}, status=status)


def handler403(request, exception=None):
    if _is_page(request):
        return _page(request, 403, exception)
    return api_errors.handler403(request, exception)


def handler404(request, exception=None):
    if _is_page(request):
        return _page(request, 404)
    return api_errors.handler404(request, exception)


def handler500(request):
    if _is_page(request):
        return _page(request, 500)
    return api_errors.handler500(request)
