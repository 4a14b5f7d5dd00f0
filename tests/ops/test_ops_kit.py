"""The operations kit in config/: Prometheus rules and their unit tests, the scrape config,
Grafana provisioning (every PromQL query parsed by promtool, every SQL query run against a
migrated ledger on PostgreSQL) and the production Mosquitto ACL enforced by a real broker."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from central import db
from tests.conftest import Mosquitto, _pg_url, require_tool

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "config" / "prometheus"
GRAFANA = ROOT / "config" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def run(*argv: str, cwd: Path = PROM) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_prometheus_config_rules_and_rule_unit_tests() -> None:
    promtool = require_tool("promtool")
    run(promtool, "check", "config", "prometheus.yml")
    out = run(promtool, "check", "rules", "hwms.rules.yml")
    assert "SUCCESS: 12 rules found" in out
    run(promtool, "test", "rules", "hwms.rules.test.yml")
    # every alert rule has at least one unit test that expects it to fire
    rules = yaml.safe_load((PROM / "hwms.rules.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROM / "hwms.rules.test.yml").read_text())["tests"]
    fired = {
        t["alertname"] for case in tests for t in case["alert_rule_test"] if t.get("exp_alerts")
    }
    assert names == fired


def panels(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["panels"])


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """promtool parses each query, as a recording rule (Grafana's interval macros replaced)."""
    promtool = require_tool("promtool")
    rules: list[dict[str, str]] = []
    for path in DASHBOARDS:
        for p in panels(path):
            for t in p["targets"]:
                if "expr" in t:
                    expr = t["expr"].replace("$__rate_interval", "5m").replace("$__interval", "1m")
                    rules.append({"record": f"hwms:dashboard:{len(rules)}", "expr": expr})
    assert len(rules) >= 15
    f = tmp_path / "queries.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    run(promtool, "check", "rules", str(f))


def test_dashboards_are_provisionable() -> None:
    """Files, not "export for sharing": fixed uids, datasources by the provisioned uids,
    no ${DS_...} placeholders, unique panel ids."""
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/hwms.yml").read_text())
    uids = {d["uid"] for d in sources["datasources"]}
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/hwms.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    seen = set()
    for path in DASHBOARDS:
        raw = path.read_text()
        assert "${DS_" not in raw and "__inputs" not in raw, path
        d = json.loads(raw)
        assert d["uid"] not in seen
        seen.add(d["uid"])
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), path
        for p in d["panels"]:
            assert p["datasource"]["uid"] in uids
            for t in p["targets"]:
                assert t["datasource"]["uid"] == p["datasource"]["uid"]
    assert seen == {"hwms-ops", "hwms-stock"}


@pytest.fixture
def pg_ledger() -> Iterator[str]:
    for url in _pg_url():
        db.upgrade(url)
        yield url


def test_stock_dashboard_sql_runs_on_the_ledger(pg_ledger: str) -> None:
    engine = create_engine(pg_ledger)
    queries = [
        t["rawSql"]
        for path in DASHBOARDS
        for p in panels(path)
        for t in p["targets"]
        if "rawSql" in t
    ]
    assert len(queries) >= 8
    with engine.connect() as c:
        for query in queries:
            q = query.replace(
                "$__timeFilter(occurred_at)",
                "occurred_at BETWEEN now() - interval '30 days' AND now()",
            )
            assert "$__" not in q, q
            c.execute(text(q)).all()
    engine.dispose()


# --- the production broker's ACL -----------------------------------------------------------


def _client(broker: Mosquitto, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def test_production_acl_keeps_each_gateway_in_its_own_topics(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    for i, user in enumerate(("gw-store-1", "gw-or-1", "hwms-ledger-1")):
        args = ["-b", "-c", str(passwd)] if i == 0 else ["-b", str(passwd)]
        subprocess.run([require_tool("mosquitto_passwd"), *args, user, "pw"], check=True)
    broker = Mosquitto(tmp_path)
    broker.reconfigure(acl_file=ROOT / "config/mosquitto/hwms.acl", restart=False)
    broker.conf.write_text(
        broker.conf.read_text().replace(
            "allow_anonymous true", f"allow_anonymous false\npassword_file {passwd}"
        )
    )
    broker.start()
    got: list[tuple[str, str]] = []
    lock = threading.Lock()

    def keep(who: str) -> Any:
        def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
            with lock:
                got.append((who, m.topic))

        return on_message

    refused: list[int] = []
    try:
        ledger = _client(broker, "hwms-ledger-1", "pw")
        ledger.on_message = keep("ledger")
        ledger.subscribe("$share/ledger/hwms/v1/+/+/events/#", qos=1)
        store = _client(broker, "gw-store-1", "pw")
        store.on_message = keep("gw-store-1")
        store.on_publish = lambda _c, _u, _mid, rc, _p: refused.append(rc.value)
        store.subscribe([("hwms/v1/st-elsewhere/gw-store-1/cmd/#", 1),
                         ("hwms/v1/st-elsewhere/gw-or-1/cmd/#", 1),
                         ("hwms/v1/st-elsewhere/gw-store-1/ack", 1),
                         ("hwms/v1/st-elsewhere/gw-or-1/ack", 1),
                         ("hwms/v1/central/ledger/status", 1)])  # fmt: skip
        time.sleep(0.5)
        store.publish("hwms/v1/st-elsewhere/gw-store-1/events/batch_movement", "{}", qos=1)
        store.publish(
            "hwms/v1/st-elsewhere/gw-or-1/events/batch_movement", "{}", qos=1
        )  # not its own
        ledger.publish("hwms/v1/st-elsewhere/gw-store-1/cmd/reload-commissioning", "{}", qos=1)
        ledger.publish("hwms/v1/st-elsewhere/gw-or-1/cmd/reload-commissioning", "{}", qos=1)
        for gw in ("gw-store-1", "gw-or-1"):  # the ledger's acks: each gateway reads its own
            ledger.publish(f"hwms/v1/st-elsewhere/{gw}/ack", "{}", qos=1)
        ledger.publish("hwms/v1/central/ledger/status", "{}", qos=1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (len(got) < 4 or len(refused) < 2):
            time.sleep(0.05)
        time.sleep(0.3)
        for c in (ledger, store):
            c.loop_stop()
            c.disconnect()
    finally:
        broker.stop()
    assert sorted(got) == [
        ("gw-store-1", "hwms/v1/central/ledger/status"),
        ("gw-store-1", "hwms/v1/st-elsewhere/gw-store-1/ack"),
        ("gw-store-1", "hwms/v1/st-elsewhere/gw-store-1/cmd/reload-commissioning"),
        ("ledger", "hwms/v1/st-elsewhere/gw-store-1/events/batch_movement"),
    ]
    assert sorted(refused) == [0, 135]  # 135: not authorized (MQTT v5 PUBACK)


def test_production_broker_config_keeps_a_ledger_outage() -> None:
    conf = dict(
        line.split(None, 1)
        for line in (ROOT / "config/mosquitto/mosquitto.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    values = {k: v.split("#")[0].strip() for k, v in conf.items()}
    assert values["persistence"] == "true"
    assert int(values["max_queued_messages"]) >= 1_000_000
    assert values["allow_anonymous"] == "false"
    assert "cafile" in values and "acl_file" in values
