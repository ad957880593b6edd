"""The API docs pages load Swagger UI and ReDoc from the server itself, never from a CDN."""

from __future__ import annotations

import re

import pytest

EXTERNAL = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")


@pytest.mark.parametrize(("page", "assets"), [
    ("/docs", ["/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"]),
    ("/redoc", ["/docs-assets/redoc.standalone.js"]),
])
def test_docs_pages_use_only_assets_served_here(client, page, assets):
    html = client.get(page)
    assert html.status_code == 200
    assert not EXTERNAL.search(html.text), EXTERNAL.search(html.text)
    assert "fonts.googleapis" not in html.text
    assert "default-src 'self'" in html.headers["content-security-policy"]
    for asset in assets:
        assert asset in html.text
        response = client.get(asset)
        assert response.status_code == 200
        assert len(response.content) > 100_000
