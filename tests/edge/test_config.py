"""Edge configuration: the example validates, every mistake names its key path, exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import hwms_demo
from edge.config import ConfigError, load, parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "edge.example.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_example_config_is_valid_and_builds_the_rules_config() -> None:
    cfg = load(EXAMPLE)
    rules = cfg.rules_config()
    assert rules.portals[0].inside == (("portal-store", 1), ("portal-store", 2))
    assert rules.cold_units[0].profile.alarm_delay_s == 900
    assert cfg.client_id == "hwms-st-elsewhere-gw-store-1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(surprise=1), "surprise: Extra inputs are not permitted"),
        (lambda d: d["mqtt"].update(port="x"), "mqtt.port: Input should be a valid integer"),
        (lambda d: d["portals"][0]["inside"].append("ghost:1"), "portals[0].inside[2]: unknown reader 'ghost'"),
        (lambda d: d["portals"][0]["outside"].append("portal-store:9"), "has no configured antenna 9"),
        (lambda d: d["cold_units"][0].update(sensor="nope"), "cold_units[0].sensor: unknown Modbus sensor"),
        (lambda d: d["cold_units"][0].update(profile="sauna"), "unknown cold-chain profile 'sauna'"),
        (lambda d: d["cold_units"][0]["overrides"].update(colour=1), "unknown profile settings ['colour']"),
        (lambda d: d["readers"]["modbus"][0]["sensors"][0].update(profile="x"), "unknown profile 'x'"),
        (lambda d: d["readers"]["cabinets"][0].pop("door_gpio_file"), "exactly one of door_gpio_file"),
        (lambda d: d.update(site="Has Spaces"), "site: String should match pattern"),
        (lambda d: d["read_points"].append({"name": "r", "zone": "mars", "antennas": ["portal-store:1"]}),
         "read_points[0].zone: unknown zone 'mars'"),
        (lambda d: d["readers"]["llrp"][0].update(keepalive_s=3, dead_after_s=5),
         "dead_after_s must be at least twice keepalive_s"),
        (lambda d: d["readers"]["llrp"][0].update(max_frame_bytes=1 << 40), "max_frame_bytes: Input should be less"),
    ],
)  # fmt: skip
def test_mistakes_are_named_by_key_path(mutate: Any, message: str) -> None:
    data = example()
    mutate(data)
    with pytest.raises(ConfigError) as err:
        parse(data, "edge.yaml")
    assert message in str(err.value)


def test_password_comes_from_a_file_or_credentials_dir_and_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n")
    data = example()
    data["mqtt"].update(username="gw", password_file=str(secret))
    cfg = parse(data)
    assert cfg.mqtt.password() == "s3cret-value"
    assert "s3cret" not in repr(cfg) and "s3cret" not in cfg.model_dump_json()
    (tmp_path / "mqtt-password").write_text("other")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    data["mqtt"].update(password_file=None, password_credential="mqtt-password")
    assert parse(data).mqtt.password() == "other"


def test_check_config_command_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: s\ngateway: g\nportals: [{name: d, inside: ['x:1'], outside: ['y:2'], "
                   "inside_zone: a, outside_zone: b}]\n")  # fmt: skip
    run = [sys.executable, "-m", "hwms_cli", "edge", "check-config"]
    ok = subprocess.run([*run, str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert ok.returncode == 0, ok.stderr
    no = subprocess.run([*run, str(bad)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert no.returncode == 2
    assert "portals[0].inside[0]: unknown reader 'x'" in no.stderr
    missing = subprocess.run(
        [*run, str(tmp_path / "none.yaml")], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_demo_config_for_the_emulators_is_valid() -> None:
    cfg = load(hwms_demo.DATA / "edge.yaml")
    assert {c.id for c in cfg.readers.cabinets} == {"or-3"}
