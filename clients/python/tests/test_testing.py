"""syft_sidecar.testing: wait_for's polling and its timeout."""

from __future__ import annotations

from typing import List, Optional

import pytest

from syft_sidecar.testing import wait_for


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls: List[int] = []

    def third_time() -> Optional[str]:
        calls.append(1)
        return "ready" if len(calls) == 3 else None

    assert wait_for(third_time, "the third call", interval=0) == "ready"
    assert len(calls) == 3


def test_wait_for_times_out_naming_what_it_waited_for() -> None:
    calls: List[int] = []

    def never() -> bool:
        calls.append(1)
        return False

    with pytest.raises(TimeoutError, match=r"^timed out after 0\.02s waiting for the moon$"):
        wait_for(never, "the moon", within=0.02, interval=0.001)
    assert calls
