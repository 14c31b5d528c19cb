"""One retry policy for every remote call (Kubernetes API, Prometheus, AWS).

Transient failures (5xx, 429, timeouts, refused connections) are retried with jittered
exponential backoff until a hard deadline; a 4xx is the caller's fault and is never
retried. A 409 is handled where the object is re-read (see `kube.KubeAdapter`).
"""
from __future__ import annotations

import socket
import threading
from typing import Callable, TypeVar

import structlog
import tenacity
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

log = structlog.get_logger(__name__)
T = TypeVar("T")


class RemoteHTTPError(Exception):
    """A non-Kubernetes HTTP error (Prometheus, pricing) with its status code."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


def status_of(exc: BaseException) -> int | None:
    if isinstance(exc, (ApiException, RemoteHTTPError)):
        return exc.status or None
    return None


def is_retryable(exc: BaseException) -> bool:
    status = status_of(exc)
    if status is not None:
        return status >= 500 or status == 429
    if isinstance(exc, ApiException):  # status 0/None: no HTTP response at all
        return True
    try:
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError
    except ImportError:  # pragma: no cover - boto3 is a dependency
        ClientError = BotoConnectionError = ()  # type: ignore[assignment]
    if BotoConnectionError and isinstance(exc, BotoConnectionError):
        return True
    if ClientError and isinstance(exc, ClientError):
        code = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code >= 500 or code == 429
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, socket.timeout))


def call(fn: Callable[..., T], *args, deadline_s: float = 10.0, what: str = "remote call",
         cancel: threading.Event | None = None, **kwargs) -> T:
    """Run `fn(*args, **kwargs)`, retrying transient failures until `deadline_s` would pass.
    Once `cancel` is set (shutdown), no further attempt is made and backoff sleeps end at once."""
    stop = tenacity.stop_before_delay(deadline_s)
    if cancel is not None:
        stop = stop | (lambda _state: cancel.is_set())
    retrying = tenacity.Retrying(
        stop=stop,
        sleep=cancel.wait if cancel is not None else tenacity.nap.sleep,
        wait=tenacity.wait_exponential_jitter(initial=0.2, max=2.0, jitter=0.2),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
        before_sleep=lambda rs: log.info("retrying", what=what, attempt=rs.attempt_number,
                                         error=_short(rs.outcome.exception())),
    )
    return retrying(fn, *args, **kwargs)


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    status = status_of(exc)
    return f"HTTP {status}" if status else f"{type(exc).__name__}: {str(exc)[:120]}"
