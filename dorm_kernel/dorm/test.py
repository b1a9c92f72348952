"""Test helpers: run a test inside a transaction that is always rolled back.

``rollback(using=None, *, run_on_commit=False)`` is a context manager (``with`` and
``async with``) and a decorator (sync and ``async def`` functions)::

    import dorm.test

    def test_create():
        with dorm.test.rollback():
            Product.objects.create(name="pen")
            assert Product.objects.count() == 1
        # the row is gone here

    @dorm.test.rollback()
    def test_sync(): ...

    @dorm.test.rollback(using=["default", "replica"])
    async def test_async(): ...          # aatomic() on each alias, rolled back

* ``using``: an alias, a backend instance, or a list of them (default ``"default"``).
* Everything done inside is rolled back at exit, even when the body raised.
* Nested ``atomic()`` blocks become savepoints inside the test transaction, and
  ``atomic(durable=True)`` is allowed inside (the test block does not count as an
  enclosing transaction, as in Django's ``TestCase``).
* ``on_commit`` callbacks never run by default, since nothing commits. With
  ``run_on_commit=True`` a callback runs when the block that registered it releases
  into the test transaction (when it would have committed in production).
* The test transaction uses the same connection as the code under test: the
  thread's connection for sync tests, the task's pinned connection for async ones.
  Code running in *other* threads or tasks uses other connections and cannot see
  the uncommitted data.
"""
from __future__ import annotations

import functools
import inspect

from dorm.transaction import AsyncAtomic, Atomic



class rollback:
    """See the module docstring."""

    def __init__(self, using=None, *, run_on_commit: bool = False):
        if using is None or isinstance(using, str) or not isinstance(using, (list, tuple, set)):
            aliases = [using]
        else:
            aliases = list(using)
            if not aliases:
                raise ValueError("rollback(using=[]) needs at least one alias")
        self.aliases = aliases
        self.run_on_commit = run_on_commit
        self._stack: list[list] = []

    def _blocks(self, cls):
        return [cls(alias, _test=True, _run_on_commit=self.run_on_commit) for alias in self.aliases]

    # ---- sync -----------------------------------------------------------------------------
    def __enter__(self):
        entered = []
        try:
            for block in self._blocks(Atomic):
                block.__enter__()
                entered.append(block)
        except BaseException:
            for block in reversed(entered):
                block.__exit__(None, None, None)
            raise
        self._stack.append(entered)
        return self

    def __exit__(self, exc_type, exc, tb):
        entered = self._stack.pop()
        error = None
        for block in reversed(entered):
            try:
                block.__exit__(exc_type, exc, tb)
            except BaseException as err:  # noqa: BLE001 - keep rolling back the other aliases
                error = error or err
        if error is not None and exc_type is None:
            raise error
        return False

    # ---- async ----------------------------------------------------------------------------
    async def __aenter__(self):
        entered = []
        try:
            for block in self._blocks(AsyncAtomic):
                await block.__aenter__()
                entered.append(block)
        except BaseException:
            for block in reversed(entered):
                await block.__aexit__(None, None, None)
            raise
        self._stack.append(entered)
        return self

    async def __aexit__(self, exc_type, exc, tb):
        entered = self._stack.pop()
        error = None
        for block in reversed(entered):
            try:
                await block.__aexit__(exc_type, exc, tb)
            except BaseException as err:  # noqa: BLE001 - keep rolling back the other aliases
                error = error or err
        if error is not None and exc_type is None:
            raise error
        return False

    # ---- decorator ----------------------------------------------------------------------------
    def _clone(self):
        return rollback(self.aliases if len(self.aliases) > 1 else self.aliases[0],
                        run_on_commit=self.run_on_commit)

    def __call__(self, func):
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args, **kwargs):
                async with self._clone():
                    return await func(*args, **kwargs)

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._clone():
                return func(*args, **kwargs)

        return wrapper


class capture_queries:
    """Record the statements run inside a ``with`` block (all aliases, or ``using``).

    ``ctx.queries`` is a list of ``{"sql", "params", "alias"}`` dicts; ``len(ctx)``
    counts them. Works for sync and async code (statements are recorded through the
    ``pre_query`` signal, which every backend sends)."""

    def __init__(self, using=None):
        self.using = using
        self.queries: list[dict] = []

    def _receiver(self, sender, sql=None, params=None, alias=None, **kwargs):
        if self.using is None or alias == self.using:
            self.queries.append({"sql": sql, "params": params, "alias": alias})

    def __enter__(self):
        from dorm.signals import pre_query

        pre_query.connect(self._receiver, weak=False)
        return self

    def __exit__(self, *exc):
        from dorm.signals import pre_query

        pre_query.disconnect(self._receiver)
        return False

    def __len__(self):
        return len(self.queries)


class assert_num_queries(capture_queries):
    """``with assert_num_queries(2): ...`` fails with the list of statements when the
    block runs a different number of queries (an N+1 guard for tests)."""

    def __init__(self, expected: int, using=None):
        super().__init__(using)
        self.expected = expected

    def __exit__(self, exc_type, *exc):
        super().__exit__(exc_type, *exc)
        if exc_type is None and len(self.queries) != self.expected:
            listing = "\n".join(f"  {i + 1}. {q['sql']}" for i, q in enumerate(self.queries))
            raise AssertionError(
                f"expected {self.expected} queries, {len(self.queries)} were run:\n{listing}")
        return False


__all__ = ["rollback", "capture_queries", "assert_num_queries"]
