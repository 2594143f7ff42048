from conftest import start

from syft_sidecar import SyftEvents


def test_hello(datasite, make_app):
    box: SyftEvents = make_app("smoke")

    @box.on_request("/hello")
    def hello(name: str) -> str:
        return f"Hello, {name}!"

    start(box)
    resp = datasite.call("smoke", "/hello", "world")
    assert resp.status_code == 200
    assert resp.body == b"Hello, world!"
