"""The systemd user unit: notify type, watchdog, restart, panic after stop, hardening; verified by systemd."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "antiphon.service"
MAX_EXPOSURE = 3.0  # systemd-analyze security: 0 is fully locked down, 10 is fully exposed


def _service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(UNIT.read_text())
    return dict(parser["Service"])


def test_unit_declares_the_service_contract():
    service = _service()
    assert service["Type"] == "notify"
    assert int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "on-failure"
    assert re.search(r"antiphon serve --config", service["ExecStart"])
    assert re.search(r"antiphon panic --config", service["ExecStopPost"])
    for directive in ("NoNewPrivileges", "PrivateTmp"):
        assert service[directive] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert "char-alsa" in service["DeviceAllow"]  # the sound devices stay reachable
    assert "antiphon-sessions" in service["ReadWritePaths"]  # and so does the recording folder
    assert service["RestrictAddressFamilies"] == "AF_UNIX"  # JACK, PipeWire and sd_notify are unix sockets


def test_systemd_accepts_the_unit_and_rates_it_well_hardened(tmp_path):
    analyze = shutil.which("systemd-analyze")
    text = UNIT.read_text().replace("%h/.local/bin/antiphon", f"{sys.executable} -m antiphon")
    unit = tmp_path / "antiphon.service"
    unit.write_text(text)
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd): the unit's hardening is not rated")
    verify = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run([analyze, "security", "--offline=true", str(unit)], capture_output=True, text=True,
                              timeout=60)
    exposure = re.search(r"Overall exposure level for antiphon.service: ([0-9.]+)", security.stdout)
    assert exposure, security.stdout + security.stderr
    assert float(exposure.group(1)) <= MAX_EXPOSURE
