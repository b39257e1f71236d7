"""Swagger UI on `/docs`, served by calbot itself instead of a CDN.

FastAPI's own `/docs` page loads Swagger UI's JavaScript and CSS from a CDN, so it stays blank on a
machine without internet. `install_local_docs` serves the copies that the `fastapi-offline`
package ships (Swagger UI 5, which renders FastAPI's OpenAPI 3.1) under `DOCS_ASSETS_PATH` and
registers `/docs` and its OAuth2 redirect page pointing at them. Call it on an app made with
`docs_url=None`; if FastAPI's CDN pages are still registered on the same paths, it replaces them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH = "/docs"
DOCS_ASSETS_PATH = "/docs-assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")  # swagger-ui-bundle.js, swagger-ui.css, favicon.png


def install_local_docs(app: FastAPI) -> None:
    """Serve Swagger UI from the bundled files at `/docs` (and its OAuth2 redirect page)."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("install_local_docs needs the OpenAPI schema: openapi_url is None.")
    redirect_url = app.swagger_ui_oauth2_redirect_url
    replaced = {DOCS_PATH, DOCS_ASSETS_PATH, redirect_url}
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", None) not in replaced
    ]
    app.mount(DOCS_ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=f"{root}{redirect_url}" if redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
    if redirect_url:

        async def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

        app.add_api_route(
            redirect_url, swagger_ui_redirect, methods=["GET"], include_in_schema=False
        )
