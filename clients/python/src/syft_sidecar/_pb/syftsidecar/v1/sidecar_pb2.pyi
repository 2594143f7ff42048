from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CancelReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CANCEL_REASON_UNSPECIFIED: _ClassVar[CancelReason]
    CANCEL_REASON_DEADLINE_EXCEEDED: _ClassVar[CancelReason]
    CANCEL_REASON_EXPIRED: _ClassVar[CancelReason]
    CANCEL_REASON_SHUTDOWN: _ClassVar[CancelReason]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_STALE_REPLY: _ClassVar[ErrorCode]
    ERROR_CODE_INVALID_REPLY: _ClassVar[ErrorCode]

class FileEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_EVENT_KIND_UNSPECIFIED: _ClassVar[FileEventKind]
    FILE_EVENT_KIND_CREATED: _ClassVar[FileEventKind]
    FILE_EVENT_KIND_MODIFIED: _ClassVar[FileEventKind]
    FILE_EVENT_KIND_MOVED: _ClassVar[FileEventKind]
    FILE_EVENT_KIND_DELETED: _ClassVar[FileEventKind]
CANCEL_REASON_UNSPECIFIED: CancelReason
CANCEL_REASON_DEADLINE_EXCEEDED: CancelReason
CANCEL_REASON_EXPIRED: CancelReason
CANCEL_REASON_SHUTDOWN: CancelReason
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_STALE_REPLY: ErrorCode
ERROR_CODE_INVALID_REPLY: ErrorCode
FILE_EVENT_KIND_UNSPECIFIED: FileEventKind
FILE_EVENT_KIND_CREATED: FileEventKind
FILE_EVENT_KIND_MODIFIED: FileEventKind
FILE_EVENT_KIND_MOVED: FileEventKind
FILE_EVENT_KIND_DELETED: FileEventKind

class ConnectRequest(_message.Message):
    __slots__ = ("register", "reply", "extend_deadline", "credit", "watch", "unwatch", "listen", "unlisten", "publish", "replies")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    EXTEND_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    WATCH_FIELD_NUMBER: _ClassVar[int]
    UNWATCH_FIELD_NUMBER: _ClassVar[int]
    LISTEN_FIELD_NUMBER: _ClassVar[int]
    UNLISTEN_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    register: Register
    reply: Reply
    extend_deadline: ExtendDeadline
    credit: Credit
    watch: Watch
    unwatch: Unwatch
    listen: Listen
    unlisten: Unlisten
    publish: Publish
    replies: ReplyBatch
    def __init__(self, register: _Optional[_Union[Register, _Mapping]] = ..., reply: _Optional[_Union[Reply, _Mapping]] = ..., extend_deadline: _Optional[_Union[ExtendDeadline, _Mapping]] = ..., credit: _Optional[_Union[Credit, _Mapping]] = ..., watch: _Optional[_Union[Watch, _Mapping]] = ..., unwatch: _Optional[_Union[Unwatch, _Mapping]] = ..., listen: _Optional[_Union[Listen, _Mapping]] = ..., unlisten: _Optional[_Union[Unlisten, _Mapping]] = ..., publish: _Optional[_Union[Publish, _Mapping]] = ..., replies: _Optional[_Union[ReplyBatch, _Mapping]] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("registered", "request", "error", "cancel", "file_event", "listener_event", "missed_events", "subscribed", "requests")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    FILE_EVENT_FIELD_NUMBER: _ClassVar[int]
    LISTENER_EVENT_FIELD_NUMBER: _ClassVar[int]
    MISSED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    registered: Registered
    request: Request
    error: Error
    cancel: Cancel
    file_event: FileEvent
    listener_event: ListenerEvent
    missed_events: MissedEvents
    subscribed: Subscribed
    requests: RequestBatch
    def __init__(self, registered: _Optional[_Union[Registered, _Mapping]] = ..., request: _Optional[_Union[Request, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ..., file_event: _Optional[_Union[FileEvent, _Mapping]] = ..., listener_event: _Optional[_Union[ListenerEvent, _Mapping]] = ..., missed_events: _Optional[_Union[MissedEvents, _Mapping]] = ..., subscribed: _Optional[_Union[Subscribed, _Mapping]] = ..., requests: _Optional[_Union[RequestBatch, _Mapping]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("app", "endpoints", "max_in_flight", "handler_name", "cleanup_expiry", "cleanup_interval", "max_batch", "client_version", "requires")
    APP_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    HANDLER_NAME_FIELD_NUMBER: _ClassVar[int]
    CLEANUP_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    CLEANUP_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_FIELD_NUMBER: _ClassVar[int]
    app: str
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    max_in_flight: int
    handler_name: str
    cleanup_expiry: str
    cleanup_interval: str
    max_batch: int
    client_version: str
    requires: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, app: _Optional[str] = ..., endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., max_in_flight: _Optional[int] = ..., handler_name: _Optional[str] = ..., cleanup_expiry: _Optional[str] = ..., cleanup_interval: _Optional[str] = ..., max_batch: _Optional[int] = ..., client_version: _Optional[str] = ..., requires: _Optional[_Iterable[str]] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("path", "deadline", "schema_json")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    path: str
    deadline: _duration_pb2.Duration
    schema_json: str
    def __init__(self, path: _Optional[str] = ..., deadline: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., schema_json: _Optional[str] = ...) -> None: ...

class Registered(_message.Message):
    __slots__ = ("app", "owner", "rpc_dir", "datasites_dir", "max_in_flight", "max_batch", "sidecar_version", "capabilities")
    APP_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    RPC_DIR_FIELD_NUMBER: _ClassVar[int]
    DATASITES_DIR_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    SIDECAR_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    app: str
    owner: str
    rpc_dir: str
    datasites_dir: str
    max_in_flight: int
    max_batch: int
    sidecar_version: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, app: _Optional[str] = ..., owner: _Optional[str] = ..., rpc_dir: _Optional[str] = ..., datasites_dir: _Optional[str] = ..., max_in_flight: _Optional[int] = ..., max_batch: _Optional[int] = ..., sidecar_version: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("id", "attempt", "app", "endpoint", "sender", "url", "method", "headers", "body", "created", "expires", "deadline", "path")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    id: str
    attempt: int
    app: str
    endpoint: str
    sender: str
    url: str
    method: str
    headers: _containers.ScalarMap[str, str]
    body: bytes
    created: _timestamp_pb2.Timestamp
    expires: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    path: str
    def __init__(self, id: _Optional[str] = ..., attempt: _Optional[int] = ..., app: _Optional[str] = ..., endpoint: _Optional[str] = ..., sender: _Optional[str] = ..., url: _Optional[str] = ..., method: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., created: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., path: _Optional[str] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("request_id", "attempt", "status_code", "headers", "body")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attempt: int
    status_code: int
    headers: _containers.ScalarMap[str, str]
    body: bytes
    def __init__(self, request_id: _Optional[str] = ..., attempt: _Optional[int] = ..., status_code: _Optional[int] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ...) -> None: ...

class RequestBatch(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[Request]
    def __init__(self, requests: _Optional[_Iterable[_Union[Request, _Mapping]]] = ...) -> None: ...

class ReplyBatch(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[Reply]
    def __init__(self, replies: _Optional[_Iterable[_Union[Reply, _Mapping]]] = ...) -> None: ...

class ExtendDeadline(_message.Message):
    __slots__ = ("request_id", "attempt", "extend_by")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EXTEND_BY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attempt: int
    extend_by: _duration_pb2.Duration
    def __init__(self, request_id: _Optional[str] = ..., attempt: _Optional[int] = ..., extend_by: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("max_in_flight",)
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    max_in_flight: int
    def __init__(self, max_in_flight: _Optional[int] = ...) -> None: ...

class Cancel(_message.Message):
    __slots__ = ("request_id", "attempt", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attempt: int
    reason: CancelReason
    def __init__(self, request_id: _Optional[str] = ..., attempt: _Optional[int] = ..., reason: _Optional[_Union[CancelReason, str]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "request_id", "attempt")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    request_id: str
    attempt: int
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class CleanNowRequest(_message.Message):
    __slots__ = ("app", "expiry")
    APP_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    app: str
    expiry: str
    def __init__(self, app: _Optional[str] = ..., expiry: _Optional[str] = ...) -> None: ...

class CleanNowResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: CleanupStats
    def __init__(self, stats: _Optional[_Union[CleanupStats, _Mapping]] = ...) -> None: ...

class GetCleanupStatsRequest(_message.Message):
    __slots__ = ("app",)
    APP_FIELD_NUMBER: _ClassVar[int]
    app: str
    def __init__(self, app: _Optional[str] = ...) -> None: ...

class GetCleanupStatsResponse(_message.Message):
    __slots__ = ("stats", "running")
    STATS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    stats: CleanupStats
    running: bool
    def __init__(self, stats: _Optional[_Union[CleanupStats, _Mapping]] = ..., running: bool = ...) -> None: ...

class CleanupStats(_message.Message):
    __slots__ = ("requests_deleted", "responses_deleted", "errors", "last_cleanup", "expiry", "interval")
    REQUESTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    RESPONSES_DELETED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LAST_CLEANUP_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    requests_deleted: int
    responses_deleted: int
    errors: int
    last_cleanup: _timestamp_pb2.Timestamp
    expiry: _duration_pb2.Duration
    interval: _duration_pb2.Duration
    def __init__(self, requests_deleted: _Optional[int] = ..., responses_deleted: _Optional[int] = ..., errors: _Optional[int] = ..., last_cleanup: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expiry: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ..., interval: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Cursor(_message.Message):
    __slots__ = ("run", "seq")
    RUN_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    run: str
    seq: int
    def __init__(self, run: _Optional[str] = ..., seq: _Optional[int] = ...) -> None: ...

class Watch(_message.Message):
    __slots__ = ("id", "globs", "kinds", "include_dirs", "app", "after")
    ID_FIELD_NUMBER: _ClassVar[int]
    GLOBS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DIRS_FIELD_NUMBER: _ClassVar[int]
    APP_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    id: str
    globs: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[FileEventKind]
    include_dirs: bool
    app: str
    after: Cursor
    def __init__(self, id: _Optional[str] = ..., globs: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[_Union[FileEventKind, str]]] = ..., include_dirs: bool = ..., app: _Optional[str] = ..., after: _Optional[_Union[Cursor, _Mapping]] = ...) -> None: ...

class Unwatch(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Listen(_message.Message):
    __slots__ = ("id", "names", "globs", "after")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    GLOBS_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    globs: _containers.RepeatedScalarFieldContainer[str]
    after: Cursor
    def __init__(self, id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., globs: _Optional[_Iterable[str]] = ..., after: _Optional[_Union[Cursor, _Mapping]] = ...) -> None: ...

class Unlisten(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Publish(_message.Message):
    __slots__ = ("name", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    data: str
    def __init__(self, name: _Optional[str] = ..., data: _Optional[str] = ...) -> None: ...

class Subscribed(_message.Message):
    __slots__ = ("id", "cursor", "roots")
    ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ROOTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    cursor: Cursor
    roots: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., cursor: _Optional[_Union[Cursor, _Mapping]] = ..., roots: _Optional[_Iterable[str]] = ...) -> None: ...

class FileEvent(_message.Message):
    __slots__ = ("watch_id", "cursor", "kind", "path", "is_dir", "time")
    WATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    watch_id: str
    cursor: Cursor
    kind: FileEventKind
    path: str
    is_dir: bool
    time: _timestamp_pb2.Timestamp
    def __init__(self, watch_id: _Optional[str] = ..., cursor: _Optional[_Union[Cursor, _Mapping]] = ..., kind: _Optional[_Union[FileEventKind, str]] = ..., path: _Optional[str] = ..., is_dir: bool = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class ListenerEvent(_message.Message):
    __slots__ = ("listener_id", "cursor", "name", "data", "time")
    LISTENER_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    listener_id: str
    cursor: Cursor
    name: str
    data: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, listener_id: _Optional[str] = ..., cursor: _Optional[_Union[Cursor, _Mapping]] = ..., name: _Optional[str] = ..., data: _Optional[str] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MissedEvents(_message.Message):
    __slots__ = ("id", "restarted", "from_seq", "to_seq", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESTARTED_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    restarted: bool
    from_seq: int
    to_seq: int
    reason: str
    def __init__(self, id: _Optional[str] = ..., restarted: bool = ..., from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...
