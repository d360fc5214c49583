"""The OpenAPI document: served, valid, and exactly the routes the app has."""

from __future__ import annotations

import re

import pytest

from functions.openapi import document


def app_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r"{\1}", rule.rule)
        path = path.replace("{creation_id}", "{creationId}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    return routes


def documented() -> set[tuple[str, str]]:
    return {(m, p) for p, ops in document()["paths"].items() for m in ops}


def test_every_route_is_documented_and_every_documented_route_exists(deps):
    from functions.api import create_app

    assert app_routes(create_app(deps)) == documented()


def test_the_document_is_served_and_is_valid_openapi_3_1(api_client):
    import schemathesis

    response = api_client.get("/api/openapi.json")
    assert response.status_code == 200
    served = response.get_json()
    assert served == document() and served["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(served)
    assert len(list(schema.get_all_operations())) == len(documented())


@pytest.mark.parametrize("model", ["VideoRequest", "ImageRequest", "VideoAccepted", "ErrorBody"])
def test_the_main_bodies_carry_examples(model):
    assert document()["components"]["schemas"][model]["examples"]


def test_every_operation_documents_its_errors_with_the_error_body():
    for path, operations in document()["paths"].items():
        for method, op in operations.items():
            assert "500" in op["responses"], (method, path)
            if op["security"]:
                assert {"401", "503"} <= set(op["responses"]), (method, path)
