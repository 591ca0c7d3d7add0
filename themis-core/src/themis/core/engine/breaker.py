"""The circuit breaker: holds a component's calls while its provider is down.

A short outage must not fail the cases that happened to be queued during it,
and a permanent one must not keep a run waiting forever. So:

- **closed**: calls go through. ``threshold`` consecutive retryable failures
  (rate limit, timeout, connection, server error) open the circuit.
- **open**: calls wait; none is sent, and waiting spends no retry. When the
  wait is over, one waiting call goes through as the *probe* (half-open).
  The wait starts short (``first_wait_s``) and doubles after each failed
  probe, up to ``cooldown_s``; a provider's ``Retry-After`` lengthens it.
- the probe's success closes the circuit and releases every waiting call;
  its failure opens it again. After ``give_up_after`` failed probes in a
  row the provider is **unavailable**: every waiting call, and every later
  one, fails at once with :class:`ProviderUnavailableError`, so the run ends
  promptly with those cases failed. While unavailable, one call per
  ``cooldown_s`` still probes, and a success closes the circuit again.

Each call still has its own retry budget (``max_retries``): a case fails
when its own attempts that reached the provider are spent, never because
other cases' failures opened the circuit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from enum import StrEnum

from themis.core.errors import ProviderUnavailableError

MIN_PROBE_WAIT_S = 0.05
"""The shortest wait before a probe, whatever the retry settings."""


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    unavailable = "unavailable"


class CircuitBreaker:
    """One component's breaker, used from one event loop."""

    def __init__(
        self,
        component_id: str,
        *,
        threshold: int,
        cooldown_s: float,
        first_wait_s: float,
        give_up_after: int,
    ) -> None:
        self.component_id = component_id
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.first_wait_s = min(cooldown_s, max(first_wait_s, MIN_PROBE_WAIT_S))
        self.give_up_after = max(1, give_up_after)
        self.state = BreakerState.closed
        self.consecutive_failures = 0
        self.failed_probes = 0
        self.opened_at = 0.0
        self.probe_at = 0.0
        self.last_error = ""
        self._probing = False
        self._changed = asyncio.Event()

    # -- admission ---------------------------------------------------------

    async def admit(self) -> bool:
        """Wait until a call may be sent; True when it is the probe.

        Raises :class:`ProviderUnavailableError` once the provider has been
        given up on.
        """
        while True:
            if self.state is BreakerState.closed:
                return False
            now = time.monotonic()
            if not self._probing and now >= self.probe_at:
                self._probing = True
                return True
            if self.state is BreakerState.unavailable:
                raise self.unavailable()
            timeout = None if self._probing else self.probe_at - now
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)

    def unavailable(self) -> ProviderUnavailableError:
        """The error of a call given up on while the provider is down."""
        return ProviderUnavailableError(
            self.component_id,
            self.failed_probes,
            time.monotonic() - self.opened_at,
            self.last_error or "unknown",
        )

    # -- outcomes ----------------------------------------------------------

    def record_success(self, probe: bool) -> None:
        """The provider answered (a result, or an error about the request)."""
        if probe:
            self._probing = False
        self.consecutive_failures = 0
        self.failed_probes = 0
        if self.state is not BreakerState.closed:
            self.state = BreakerState.closed
            self._notify()

    def record_failure(
        self, probe: bool, error: BaseException, retry_after_s: float | None = None
    ) -> None:
        """A retryable failure: the provider may be down."""
        self.consecutive_failures += 1
        self.last_error = f"{type(error).__name__}: {error}"
        now = time.monotonic()
        if probe:
            self._probing = False
            self.failed_probes += 1
            if self.failed_probes >= self.give_up_after:
                self.state = BreakerState.unavailable
                self.probe_at = now + self.cooldown_s
            else:
                self.probe_at = now + self._wait_s(retry_after_s)
            self._notify()
        elif self.state is BreakerState.closed and self.consecutive_failures >= self.threshold:
            self.state = BreakerState.open
            self.opened_at = now
            self.failed_probes = 0
            self.probe_at = now + self._wait_s(retry_after_s)
            self._notify()

    def release_probe(self, probe: bool) -> None:
        """The probe ended without telling whether the provider is up (it was
        cancelled, or the component itself raised): let another call probe."""
        if probe:
            self._probing = False
            self.probe_at = min(self.probe_at, time.monotonic())
            self._notify()

    def _wait_s(self, retry_after_s: float | None) -> float:
        wait: float = min(self.cooldown_s, self.first_wait_s * 2.0**self.failed_probes)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.cooldown_s))
        return wait

    def _notify(self) -> None:
        """Wake every waiting call to look at the new state."""
        self._changed.set()
        self._changed = asyncio.Event()
