"""systemd's notify protocol (sd_notify) over ``$NOTIFY_SOCKET``; silent when not run by systemd.

READY=1 once the ports are open and the model is warm, WATCHDOG=1 from the live loop only while it makes
progress (at most twice per ``$WATCHDOG_USEC``), STOPPING=1 on the way out.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MICROSECONDS = 1_000_000


class Notifier:
    """Sends datagrams to the socket named by ``NOTIFY_SOCKET`` (``@name``: Linux abstract namespace)."""

    def __init__(self, environ: dict[str, str] | None = None, now: Callable[[], float] = time.monotonic):
        env = os.environ if environ is None else environ
        self.now = now
        self.address = env.get("NOTIFY_SOCKET") or None
        if self.address is not None and self.address.startswith("@"):
            self.address = "\0" + self.address[1:]
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_on = usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid()))
        # Pet twice per watchdog period, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval_s = int(usec) / MICROSECONDS / 2 if watchdog_on else None
        self._last_watchdog = float("-inf")
        self._socket: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, state: str) -> bool:
        """Send one state string (e.g. ``"READY=1"``); False when not under systemd or the send failed."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(state.encode(), self.address)
            return True
        except OSError as err:
            log.warning("sd_notify %r failed: %s", state, err)
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """Pet the watchdog if it is on and half its period has passed since the last time."""
        if self.watchdog_interval_s is None:
            return False
        now = self.now()
        if now - self._last_watchdog < self.watchdog_interval_s:
            return False
        self._last_watchdog = now
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
