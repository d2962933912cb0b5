"""The OpenAPI schema describes every endpoint, and the docs page works offline."""

import re

import pytest
import yaml
from django.urls import get_resolver

pytestmark = pytest.mark.django_db


def _schema(client) -> dict:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _api_routes() -> set[str]:
    """Every /api/ route Django knows, in OpenAPI's {param} form."""
    routes = set()

    def as_text(pattern) -> str:
        text = str(pattern.pattern).removeprefix("^").removesuffix("$")
        text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", text)  # router regexes
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)

    def walk(patterns, prefix=""):
        for pattern in patterns:
            text = prefix + as_text(pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, text)
            elif text.startswith("api/") and not text.startswith(("api/schema", "api/docs")):
                routes.add("/" + text.replace("{pk}", "{id}"))  # spectacular says "id"

    walk(get_resolver().url_patterns)
    return routes


def test_it_describes_every_api_route(anon):
    documented = set(_schema(anon)["paths"])
    assert {"/api/auth/users/{id}/", "/api/messaging/contacts/{id}/opt-out/"} <= _api_routes()
    assert _api_routes() <= documented, _api_routes() - documented


def test_it_generates_the_schema_without_a_single_warning(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_it_describes_request_and_response_bodies_of_register(anon):
    operation = _schema(anon)["paths"]["/api/auth/register/"]["post"]
    assert "requestBody" in operation
    assert "201" in operation["responses"]


def test_it_serves_the_docs_page_with_its_own_assets_and_no_cdn(anon):
    page = anon.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, "the page should load Swagger UI from this server"
    for asset in assets:
        assert anon.get(asset).status_code == 200, asset
