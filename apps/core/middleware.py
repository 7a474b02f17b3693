from django.conf import settings


class ContentSecurityPolicyMiddleware:
    """Send a strict Content-Security-Policy: our own scripts and styles only, no CDN."""

    def __init__(self, get_response):
        self.get_response = get_response
        tile_origin = ""
        if settings.MAP_TILE_URL:
            from urllib.parse import urlsplit

            parts = urlsplit(settings.MAP_TILE_URL.replace("{s}", "a"))
            tile_origin = f" {parts.scheme}://{parts.netloc.replace('a.', '*.', 1)}"
        self.policy = (
            "default-src 'self'; "
            "script-src 'self'; "
            "style-src 'self'; "
            f"img-src 'self' data: blob:{tile_origin}; "
            "media-src 'self' blob:; "
            "connect-src 'self' ws: wss:; "
            "font-src 'self'; "
            "object-src 'none'; "
            "base-uri 'self'; "
            "form-action 'self'; "
            "frame-ancestors 'none'"
        )

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith("/platform-admin/"):
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class ApiNotFoundProblemMiddleware:
    """An unknown ``/api/...`` URL answers problem+json 404, under DEBUG too.

    ``handler404`` (``apps.core.views.page_not_found``) already does so without DEBUG, but
    with DEBUG Django answers a URL that matches no route with its HTML debug page before
    any handler runs, and an API client then had HTML to parse. Placed outside
    ``CommonMiddleware`` so a missing trailing slash is still redirected first.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
        ):
            from apps.core.problems import problem_response

            return problem_response(
                status=404, title="Not found", detail="There is no such API URL."
            )
        return response
