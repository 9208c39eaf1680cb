"""docs/openapi.yaml describes every route of the public and admin apps, and no other."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from flask import Flask

from crumbless.app import create_admin_app, create_app

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
IMPLICIT = {"HEAD", "OPTIONS"}  # Flask adds these to every route


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return spec


def routes(app: Flask) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route the app serves."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        methods = set(rule.methods or ()) - IMPLICIT
        if rule.endpoint.endswith("preflight"):
            methods.add("OPTIONS")
        found |= {(m.lower(), path) for m in methods}
    return found


def described(tag: str) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in load_spec()["paths"].items()
            for method, op in ops.items() if tag in op.get("tags", ())}


def test_openapi_is_3_1_and_describes_exactly_the_public_routes(make_runtime: Any) -> None:
    assert load_spec()["openapi"].startswith("3.1")
    assert routes(create_app(make_runtime())) == described("public")


def test_openapi_describes_exactly_the_admin_routes(make_runtime: Any) -> None:
    assert routes(create_admin_app(make_runtime())) == described("admin")
