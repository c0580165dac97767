"""Every path answers an undeclared method with 405 and an ``Allow`` naming exactly the
methods declared there, pages and API alike.

The app is walked, not listed by hand, so a route added later is covered too. The
expected methods come from the routes' templates as written (all routes sharing one
template), never from matching: a template that captured another route's literal
path (`/api/courses/{course_id}` swallowing `/api/courses/join`) would answer 422,
or name the wrong methods, and fail here.
"""

from __future__ import annotations

import inspect
import re
from collections import defaultdict

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.convertors import IntegerConvertor
from starlette.routing import Route

from gradeflow.app import endpoint_routes

STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
# A value each kind of path parameter accepts, so the request reaches the route.
SAMPLE_VALUES = {"int": "1", "str": "apply"}
PARAMETER = re.compile(r"{(\w+)(?::(\w+))?}")
# Routing is the same on both databases and answers before any query.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def concrete_path(template: str) -> str:
    return PARAMETER.sub(lambda found: SAMPLE_VALUES[found.group(2) or "str"], template)


def declared_methods(app: FastAPI) -> dict[str, set[str]]:
    """Each route template (``/api/courses/{course_id:int}``) and the methods of all
    the routes written with it."""
    declared: dict[str, set[str]] = defaultdict(set)
    for route in endpoint_routes(app.routes):
        declared[route.path] |= set(route.methods or ())
    return declared


async def test_every_undeclared_method_is_405_with_the_declared_methods(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    declared = declared_methods(app)
    assert "/api/courses/join" in declared
    assert "/api/assignments/next" in declared
    checked = 0
    for template, methods in sorted(declared.items()):
        path = concrete_path(template)
        for method in STANDARD_METHODS:
            if method in methods:
                continue
            response = await client.request(method, path)
            where = f"{method} {path}"
            assert response.status_code == 405, f"{where}: {response.status_code} {response.text}"
            assert response.headers["allow"] == ", ".join(sorted(methods)), where
            if method != "HEAD":
                assert response.json()["error"]["code"] == "method_not_allowed", where
            checked += 1
    # Roughly six undeclared methods for each of the app's ~75 paths.
    assert checked > 300


async def test_a_non_numeric_id_is_not_found_and_an_oversized_one_invalid(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/courses/not-a-number")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    oversized = await client.get(f"/api/courses/{2**64}")
    assert oversized.status_code == 422
    assert oversized.json()["error"]["code"] == "invalid"


def test_every_integer_path_parameter_is_matched_as_an_integer(app: FastAPI) -> None:
    """The guard that keeps the 405s right: an id matched as any text (`{course_id}`)
    captures the literal paths beside it."""
    for route in endpoint_routes(app.routes):
        if not isinstance(route, APIRoute):
            assert isinstance(route, Route), route.path
            assert not route.param_convertors, route.path
            continue
        for parameter in route.dependant.path_params:
            annotation = parameter.field_info.annotation
            if inspect.isclass(annotation) and issubclass(annotation, int):
                convertor = route.param_convertors[parameter.name]
                assert isinstance(convertor, IntegerConvertor), route.path
