"""GET /js/script.js: size budget, encodings, strong ETags and caching headers."""

from __future__ import annotations

import gzip

import pytest
from flask import Flask
from flask.testing import FlaskClient

from collector.tracker import SIZE_BUDGET_GZIP, minify, tracker_blueprint, tracker_source


@pytest.fixture
def client() -> FlaskClient:
    app = Flask("t")
    app.register_blueprint(tracker_blueprint())
    return app.test_client()


def test_gzipped_script_fits_the_2_kb_budget(client: FlaskClient) -> None:
    response = client.get("/js/script.js", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(response.data) <= SIZE_BUDGET_GZIP == 2048
    # The wire bytes are the minified readable source, nothing else.
    assert gzip.decompress(response.data).decode() == minify(tracker_source())


def test_script_is_javascript_cached_long_and_varies_on_encoding(client: FlaskClient) -> None:
    response = client.get("/js/script.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert "Content-Encoding" not in response.headers  # no gzip unless the client asks
    assert response.headers["Cache-Control"].startswith("public, max-age=86400")
    assert response.headers["Vary"] == "Accept-Encoding"
    body = response.get_data(as_text=True)
    assert "Outbound Link: Click" in body and "File Download" in body
    assert "/*" not in body  # comments are stripped


def test_strong_etag_answers_304_per_encoding(client: FlaskClient) -> None:
    plain = client.get("/js/script.js")
    packed = client.get("/js/script.js", headers={"Accept-Encoding": "gzip"})
    etag, gz_etag = plain.headers["ETag"], packed.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert etag != gz_etag  # two representations, two strong validators
    again = client.get("/js/script.js", headers={"Accept-Encoding": "gzip",
                                                 "If-None-Match": f'"x", {gz_etag}'})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == gz_etag
    # The identity ETag does not validate the gzip representation.
    stale = client.get("/js/script.js", headers={"Accept-Encoding": "gzip",
                                                 "If-None-Match": etag})
    assert stale.status_code == 200 and stale.headers["Content-Encoding"] == "gzip"
    # The same bytes get the same ETag (a restart does not invalidate caches).
    assert client.get("/js/script.js").headers["ETag"] == etag

