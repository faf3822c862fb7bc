"""sd_notify against a datagram socket the test creates, and the live daemon's READY and WATCHDOG pings."""

from __future__ import annotations

import os
import socket

from antiphon.daemon.notify import Notifier


def _listen(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(1.0)
    return sock


def test_ready_watchdog_stopping_over_a_unix_datagram_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = _listen(path)
    now = [0.0]
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"}, now=lambda: now[0])
    assert notifier.enabled and notifier.watchdog_interval_s == 1.0
    assert notifier.ready("listening")
    assert sock.recv(100) == b"READY=1\nSTATUS=listening"
    assert notifier.watchdog()
    assert sock.recv(100) == b"WATCHDOG=1"
    now[0] = 0.5
    assert not notifier.watchdog()  # at most twice per watchdog period
    now[0] = 1.01
    assert notifier.watchdog()
    assert sock.recv(100) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(100) == b"STOPPING=1"
    notifier.close()
    sock.close()


def test_abstract_socket_and_silence_outside_systemd():
    name = f"antiphon-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(1.0)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
    assert notifier.ready()
    assert sock.recv(100) == b"READY=1"
    assert notifier.watchdog_interval_s is None and not notifier.watchdog()
    sock.close()
    quiet = Notifier({})
    assert not quiet.enabled and not quiet.ready() and not quiet.watchdog()
    other_pid = Notifier({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other_pid.watchdog_interval_s is None  # the watchdog is meant for another process


def test_send_failure_is_not_fatal(tmp_path):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    assert not notifier.ready()
