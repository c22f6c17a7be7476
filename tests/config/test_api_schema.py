"""The OpenAPI schema generates without warnings and is served; Swagger UI is served locally."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command


def test_schema_generates_without_warnings() -> None:
    out = io.StringIO()
    # --fail-on-warn turns every drf-spectacular warning into an error; --validate checks OpenAPI 3.
    call_command("spectacular", "--fail-on-warn", "--validate", stdout=out)
    schema = out.getvalue()
    assert "openapi: 3" in schema
    assert "/api/v1/auth/token/" in schema
    assert "/api/v1/auth/token/revoke/" in schema


def test_the_schema_describes_the_token_and_its_header() -> None:
    import yaml

    out = io.StringIO()
    call_command("spectacular", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert '"Token"' in scheme["description"]
    answer = schema["components"]["schemas"]["TokenIssued"]["properties"]
    assert {"token", "token_id", "expires_at"} <= set(answer)


@pytest.mark.django_db
def test_schema_and_docs_are_served_to_signed_in_users(client, nurse) -> None:
    assert client.get("/api/schema/").status_code in (401, 403)
    client.force_login(nurse)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger" in html.lower()
    # No CDN: every script and stylesheet comes from this server.
    assert "cdn." not in html and "unpkg" not in html
