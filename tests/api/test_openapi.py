"""The documented API contract: request limits, response models and error shapes."""

from __future__ import annotations

import httpx
import pytest

from gradeflow.app import create_app
from gradeflow.settings import Settings


def test_the_documented_submit_limit_follows_the_setting(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_code_bytes": 1234}))
    operation = app.openapi()["paths"]["/api/assignments/{assignment_id}/submissions"]["post"]
    content = operation["requestBody"]["content"]
    assert content["text/plain"]["schema"]["maxLength"] == 1234
    assert content["application/json"]["schema"]["properties"]["code"]["maxLength"] == 1234
    assert {"202", "409", "413", "415", "422", "503"} <= set(operation["responses"])
    # An outage says when to try again, as nginx's own 503 does (gradeflow.stack).
    assert "Retry-After" in operation["responses"]["503"]["headers"]


def test_every_json_route_documents_its_success_and_error_shapes(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    undocumented = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [status for status in responses if status.startswith("2")]
            for status in success:
                json_body = responses[status].get("content", {}).get("application/json")
                # A named model, not an open ``dict[str, Any]`` object.
                if json_body is not None and "$ref" not in json_body.get("schema", {}):
                    undocumented.append(f"{method.upper()} {path} {status}: no response model")
            if path.startswith("/api") and "422" not in responses:
                undocumented.append(f"{method.upper()} {path}: no error shape")
    assert undocumented == []


def test_every_operation_that_takes_a_body_documents_413(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation and "413" not in operation["responses"]
    ]
    assert undocumented == []
    too_large = schema["paths"]["/api/auth/login"]["post"]["responses"]["413"]
    assert too_large["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


async def test_a_body_that_is_not_utf8_json_is_refused_as_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/login", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


async def test_a_method_no_route_serves_names_every_method_the_path_has(
    client: httpx.AsyncClient,
) -> None:
    # Two routes share this path (GET lists the roster, POST enrols).
    response = await client.put("/api/courses/1/students")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("DELETE", "/api/submissions/18446744073709551616"),
        ("GET", "/api/submissions?limit=18446744073709551616"),
        ("GET", "/api/courses/9223372036854775808"),
        ("GET", "/api/events?last_event_id=9223372036854775808"),
    ],
)
async def test_a_number_beyond_the_database_integers_is_invalid_input(
    client: httpx.AsyncClient, method: str, url: str
) -> None:
    await client.post("/api/session")
    response = await client.request(method, url)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
