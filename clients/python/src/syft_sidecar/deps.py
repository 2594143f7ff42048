"""syft-event's ``syft_event.deps``: handler arguments injected by type.

``func_args_from_request(func, request, app)`` takes this package's
``Request`` or syft-rpc's ``SyftRequest``, as syft-event's does.
"""

from ._deps import func_args_from_request

__all__ = ["func_args_from_request"]
