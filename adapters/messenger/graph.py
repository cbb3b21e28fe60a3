"""The Graph API client: python-facebook-api, run off the event loop in a bounded pool."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pyfacebook import FacebookError, GraphAPI, LibraryError

from adapters.messenger.errors import graph_error, unreadable_answer
from channels import SendError, network_error

T = TypeVar("T")

_SECRET_PARAMS = re.compile(r"(access_token|appsecret_proof)=[^&\s'\"]+")
#: logs each request line at DEBUG, and the library puts the token in the query of every GET
_URLLIB3_LOGGER = "urllib3.connectionpool"


class _RedactTokens(logging.Filter):
    """Takes access tokens and proofs out of urllib3's request lines before anyone sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = _SECRET_PARAMS.sub(r"\1=***", text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


def _redact_library_logs() -> None:
    """Install the filter once, however many Messenger channels start."""
    logger = logging.getLogger(_URLLIB3_LOGGER)
    if not any(isinstance(f, _RedactTokens) for f in logger.filters):
        logger.addFilter(_RedactTokens())


class GraphClient:
    """Calls the Graph API with the library's synchronous client, one session per worker thread."""

    def __init__(
        self,
        *,
        access_token: str,
        app_secret: str,
        base_url: str,
        version: str,
        request_timeout: float = 10.0,
        workers: int = 4,
        name: str = "messenger",
    ) -> None:
        self._access_token = access_token
        self._app_secret = app_secret
        # The library joins base_url and "<version>/<path>" without a separator.
        self._base_url = base_url.rstrip("/") + "/"
        self._version = version
        self.request_timeout = request_timeout
        self._workers = workers
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._apis: list[Any] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Open the worker pool."""
        _redact_library_logs()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=self._name)

    def stop(self) -> None:
        """Close the pool without waiting for calls in flight, then the HTTP sessions."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            apis, self._apis = self._apis, []
        for api in apis:
            api.session.close()

    async def call(self, work: Callable[[Any], T], timeout: float) -> T:
        """Run `work(api)` in the pool, bounded by `timeout`; failures come out as SendErrors."""
        if self._pool is None:
            raise SendError(
                message="the channel is not running", code="NOT_STARTED", retryable=True
            )
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._pool, self._guarded, work)
        except RuntimeError as exc:  # the pool shut down under us
            raise SendError(message=str(exc), code="NOT_STARTED", retryable=True) from None
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise network_error(
                TimeoutError(f"no answer from the Graph API within {timeout:g} s")
            ) from None

    def redact(self, text: str) -> str:
        """`text` without the token, the app secret or anything derived from them."""
        text = _SECRET_PARAMS.sub(r"\1=***", text)
        for secret in (self._access_token, self._app_secret):
            if len(secret) >= 8:  # a shorter one would mangle ordinary words
                text = text.replace(secret, "***")
        return text

    def _guarded(self, work: Callable[[Any], T]) -> T:
        api = self._api()
        self._local.status = None
        self._local.retry_after = None
        try:
            return work(api)
        except SendError:
            raise
        except FacebookError as exc:
            raise self._clean(
                graph_error(exc, status=self._local.status, retry_after=self._local.retry_after)
            ) from None
        except LibraryError:
            raise unreadable_answer(self._local.status, self._local.retry_after) from None
        except OSError as exc:  # requests' exceptions, timeouts included, are OSErrors
            raise self._clean(network_error(exc)) from None
        except Exception:  # a malformed answer must not escape unclassified
            raise unreadable_answer(self._local.status, self._local.retry_after) from None

    def _api(self) -> Any:
        api = getattr(self._local, "api", None)
        if api is None:
            api = GraphAPI(
                access_token=self._access_token,
                app_secret=self._app_secret,
                base_url=self._base_url,
                version=self._version,
                timeout=self.request_timeout,
                # The gateway paces and retries; the library must not sleep in our threads.
                sleep_on_rate_limit=False,
            )
            api.session.hooks["response"].append(self._remember)
            self._local.api = api
            with self._lock:
                self._apis.append(api)
        return api

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        # The library ignores HTTP statuses; keep them for classifying the failure.
        self._local.status = response.status_code
        self._local.retry_after = response.headers.get("Retry-After")

    def _clean(self, error: SendError) -> SendError:
        error.message = self.redact(error.message)
        error.args = (error.message,)
        return error
