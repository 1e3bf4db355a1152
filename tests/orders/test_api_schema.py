"""The OpenAPI document is what integrators read: every field, parameter and error is described."""

import pytest


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_property_of_every_shape_has_a_description(schema):
    undocumented = [
        f"{name}.{prop}"
        for name, component in schema["components"]["schemas"].items()
        for prop, spec in component.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert undocumented == []


def test_every_parameter_of_every_operation_has_a_description(schema):
    undocumented = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]
    assert undocumented == []


def test_every_operation_has_a_summary_and_documents_its_errors(schema):
    problems = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not operation.get("summary"):
                problems.append(f"{method.upper()} {path}: no summary")
            codes = set(operation["responses"])
            for code in ("401", "403", "429"):
                if code not in codes:
                    problems.append(f"{method.upper()} {path}: {code} not documented")
            if method in ("post", "put", "patch") and not {"400", "413", "415"} <= codes:
                problems.append(f"{method.upper()} {path}: body errors not documented")
            if "{" in path and "404" not in codes:
                problems.append(f"{method.upper()} {path}: 404 not documented")
    assert problems == []


def test_errors_are_documented_in_the_shapes_the_api_answers(schema):
    create = schema["paths"]["/api/v1/orders/"]["post"]["responses"]
    assert create["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationError"}
    for code in ("401", "403", "409", "422", "429"):
        assert create[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert schema["components"]["schemas"]["ValidationError"]["properties"]["errors"]["type"] == "object"
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
    }


def test_the_docs_page_is_served_without_a_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert "Content-Security-Policy" in response.headers
