"""Statement observers scoped to the current thread or task (shared by
``dorm.contrib.nplusone`` and ``dorm.contrib.querycount``).

Contract:

* ``ScopedObserver.push(scope)`` makes ``scope.on_query(alias, sql, many, error)`` run
  for every statement executed *in the current context* (thread, or asyncio task and
  the tasks it creates afterwards) until ``pop(scope, token)``. Scopes pushed in other
  threads or in concurrently running tasks never see these statements.
* ``add_global(scope)`` / ``remove_global(scope)``: a scope that sees the statements of
  every context (the ``DEBUG_NPLUSONE`` detector).
* Zero cost when unused: the ``post_query`` receiver is connected only while at least
  one scope (local or global) is active, so the backends' statement path does not
  send the signal otherwise. The receiver never raises: scopes report at their exit.
"""
from __future__ import annotations

import logging
import threading
from contextvars import ContextVar, Token

logger = logging.getLogger("dorm.contrib")


class ScopedObserver:
    """One ``post_query`` receiver feeding the scopes of the current context."""

    def __init__(self, name: str):
        self.name = name
        self._var: ContextVar[tuple] = ContextVar(f"dorm_{name}_scopes", default=())
        self._lock = threading.Lock()
        self._users = 0
        self._global: tuple = ()

    # ---- activation ------------------------------------------------------------------
    def _acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                from dorm import signals

                signals.post_query.connect(self._receive, weak=False,
                                           dispatch_uid=f"dorm.contrib.{self.name}")

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                from dorm import signals

                signals.post_query.disconnect(dispatch_uid=f"dorm.contrib.{self.name}")

    def push(self, scope) -> Token:
        """Activate ``scope`` for the current context; returns the token for ``pop``."""
        self._acquire()
        return self._var.set(self._var.get() + (scope,))

    def pop(self, scope, token: Token) -> None:
        """Deactivate a scope activated by ``push``."""
        try:
            self._var.reset(token)
        except ValueError:  # left in another context than entered: drop just this scope
            self._var.set(tuple(s for s in self._var.get() if s is not scope))
        self._release()

    def add_global(self, scope) -> None:
        with self._lock:
            if scope in self._global:
                return
            self._global = (*self._global, scope)
        self._acquire()

    def remove_global(self, scope) -> bool:
        with self._lock:
            if scope not in self._global:
                return False
            self._global = tuple(s for s in self._global if s is not scope)
        self._release()
        return True

    def active(self) -> tuple:
        """The scopes active in the current context (innermost last)."""
        return self._var.get()

    # ---- the receiver ----------------------------------------------------------------
    def _receive(self, sender=None, sql="", alias=None, many=False, error=None, **_kw):
        scopes = self._var.get()
        if self._global:
            scopes = scopes + self._global
        for scope in scopes:
            try:
                scope.on_query(alias, sql, many, error)
            except Exception:  # an observer's bug must never fail the user's statement
                logger.exception("dorm.contrib.%s: observing a statement failed", self.name)
