"""syft_sidecar.types: the hot path's Request is the model pydantic builds."""

from __future__ import annotations

import copy
import pickle

from syft_core.url import SyftBoxURL

from syft_sidecar.types import Request, make_request

URL = SyftBoxURL("syft://bob@example.com/app_data/a/rpc/b")


def test_make_request_builds_what_model_construct_builds():
    fields = dict(
        id="1", sender="alice@example.com", url=URL, headers={"k": "v"}, body=b"{}", method="POST"
    )
    fast = make_request(**fields)
    slow = Request.model_construct(**fields)
    assert type(fast) is Request
    assert fast == slow
    assert fast.model_dump() == slow.model_dump() == fields
    assert fast.model_fields_set == slow.model_fields_set == set(fields)
    assert repr(fast) == repr(slow)
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_copy(update={"body": None}).body is None
    assert copy.deepcopy(fast) == fast
    assert pickle.loads(pickle.dumps(fast)) == fast
    # The handler side mutates it (decryption) and reads syft-rpc's helpers.
    fast.body = b'{"a": 1}'
    fast.headers["X-Syft-Decrypted"] = "true"
    assert fast.json() == {"a": 1}
    assert fast.text() == '{"a": 1}'
    assert Request.model_validate(fast.model_dump()) == fast
