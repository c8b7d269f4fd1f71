"""Client of oauth-callback-server for MCP servers written in Python.

    from oauth_callback_client import wait_for_callback_async
    callback = await wait_for_callback_async("http://oauth-callback-server:8000", state)
    code = callback.auth_code

The API it speaks is docs/openapi.yaml in the server's repository.
"""

from ._client import (
    AlreadyRegistered,
    AsyncClient,
    Client,
    AlreadyRetrieved,
    AnswerLost,
    Callback,
    CallbackError,
    CallbackTimeout,
    Cancelled,
    Conflict,
    NotFound,
    ProviderError,
    Registration,
    Status,
    Unauthorized,
    cancel,
    cancel_async,
    register,
    register_async,
    status,
    status_async,
    wait_for_callback,
    wait_for_callback_async,
)

__all__ = [
    "AlreadyRegistered",
    "AsyncClient",
    "Client",
    "AlreadyRetrieved",
    "AnswerLost",
    "Callback",
    "CallbackError",
    "CallbackTimeout",
    "Cancelled",
    "Conflict",
    "NotFound",
    "ProviderError",
    "Registration",
    "Status",
    "Unauthorized",
    "cancel",
    "cancel_async",
    "register",
    "register_async",
    "status",
    "status_async",
    "wait_for_callback",
    "wait_for_callback_async",
]
