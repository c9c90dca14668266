"""How pages travel: compressed when the client accepts it, static CSS and JS under content-hashed names."""

import gzip
import re

import brotli
import pytest


@pytest.mark.parametrize("encoding, decode", [("gzip", gzip.decompress), ("br", brotli.decompress)])
def test_pages_and_json_are_compressed_when_the_client_accepts_it(client_for, encoding, decode):
    admin = client_for("admin")
    plain = admin.get("/help")
    packed = admin.get("/help", headers={"Accept-Encoding": encoding})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
    unpacked = decode(packed.get_data())
    assert unpacked.startswith(b"<!doctype html>") and b"<h1>Help</h1>" in unpacked
    assert abs(len(unpacked) - len(plain.get_data())) < 100  # only the per-request nonce and token differ
    assert len(packed.get_data()) < len(plain.get_data()) / 2
    ping = admin.get("/api/v4/usage_data/service_ping", headers={"Accept-Encoding": encoding})
    assert ping.headers["Content-Encoding"] == encoding


def test_stylesheets_and_scripts_carry_a_content_hash_and_are_cached_for_a_year(client_for):
    client = client_for("admin")
    html = client.get("/acme/website").get_data(as_text=True) + client.get("/admin/metrics/").get_data(as_text=True)
    urls = set(re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', html))
    plain = {url for url in urls if not re.search(r"\.[0-9a-f]{8}\.(?:css|js)$", url)}
    assert plain == set()
    for name in ("css/app", "css/dashboard", "js/dashboard", "js/clipboard"):
        url = next(url for url in urls if url.startswith(f"/static/gen/{name}."))
        response = client.get(url)
        assert response.status_code == 200
        assert response.cache_control.max_age == 365 * 24 * 3600 and response.cache_control.immutable
