"""The console's scripts and styles: served without a credential, by bare name only, with
their content types and revalidated on every load."""

from __future__ import annotations

import re
from importlib import resources

import httpx

from livepilot.testing import TEST_CONSOLE_TOKEN, running_server

MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def shipped(name: str) -> bytes:
    return resources.files("livepilot.server").joinpath("static", name).read_bytes()


async def test_every_asset_the_console_page_loads_is_served_as_it_is_shipped() -> None:
    async with running_server([]) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            page = (await http.get("/", params={"token": TEST_CONSOLE_TOKEN})).text
            names = sorted(set(re.findall(r"/console-assets/([\w.-]+)", page)))
            assert any(n.endswith(".js") for n in names) and any(n.endswith(".css") for n in names)
            for name in names:
                reply = await http.get(f"/console-assets/{name}")  # no credential
                assert reply.status_code == 200, name
                assert reply.headers["content-type"] == MEDIA[name[name.rindex("."):]]
                assert reply.headers["cache-control"] == "no-cache"
                assert reply.headers["x-content-type-options"] == "nosniff"
                assert reply.content == shipped(name)
                again = await http.get(
                    f"/console-assets/{name}", headers={"if-none-match": reply.headers["etag"]}
                )
                assert again.status_code == 304 and again.content == b""


REFUSED = [
    "/console-assets/console.html",  # not a script or a style
    "/console-assets/app.py",
    "/console-assets/..%2Fapp.py",
    "/console-assets/%2e%2e%2fauth.py",
    "/console-assets/..%2F..%2Fsettings.py",
    "/console-assets/.hidden.js",
    "/console-assets/missing.js",
    "/console-assets/console.css%00.js",
    "/console-assets/static%2Fconsole.css",
    "/overlay-assets/..%2Fsrc%2Flivepilot%2Fsettings.py",
]


async def test_nothing_but_a_shipped_script_or_style_is_served() -> None:
    async with running_server([]) as srv:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for path in REFUSED:
                reply = await http.get(path)
                assert reply.status_code == 404, path
                detail = reply.json()["detail"]  # a path with "/" matches no route at all
                assert detail == "Not Found" or detail.startswith("no such "), path
