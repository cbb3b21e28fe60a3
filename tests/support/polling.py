"""Waiting for what a running gateway does in the background, with a bound on the wait."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

#: how often a condition is looked at again
INTERVAL = 0.02


# A check may answer None until it holds; what it answers then is never None.
@overload
async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = ...) -> T: ...
@overload
async def eventually(check: Callable[[], T | None], timeout: float = ...) -> T: ...


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait until `check()` (sync or async) is truthy and answer it; fail after `timeout` s.

    The timeout is a safety bound for a test that would otherwise hang, not a timing the test
    asserts: make it generous.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {result!r})")
        await asyncio.sleep(INTERVAL)
