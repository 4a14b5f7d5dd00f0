"""Edge benchmark against a private local mosquitto; prints figures, asserts nothing.

1. events/s through the durable outbox + publisher vs raw paho QoS 1 of the same payloads;
2. latency from an event leaving the rules core to its delivery to a subscriber (p50/p99;
   the debounce window is excluded by construction);
3. RSS of a process holding the daemon's code and 100 000 present tags;
4. time to drain a backlog (default 300 000 events) accumulated during an outage.

    python bench/bench_edge.py [--events 20000] [--backlog 300000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import MqttConfig
from edge.metrics import EdgeMetrics
from edge.outbox import NewRow, Outbox
from edge.publisher import Publisher

PAYLOAD = json.dumps({"schema": 1, "kind": "batch_movement", "body": {"x": "y" * 600}}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\n"
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def raw_paho(port: int, n: int) -> float:
    done = threading.Event()
    acked = [0]

    def on_publish(*_: object) -> None:
        acked[0] += 1
        if acked[0] == n:
            done.set()

    c = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=MQTTProtocolVersion.MQTTv5
    )
    c.max_inflight_messages_set(20)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    start = time.perf_counter()
    for _ in range(n):
        c.publish("bench/raw", PAYLOAD, qos=1)
    done.wait(300)
    elapsed = time.perf_counter() - start
    c.loop_stop()
    c.disconnect()
    return n / elapsed


def publisher(port: int, outbox: Outbox, name: str) -> Publisher:
    cfg = MqttConfig(host="127.0.0.1", port=port, inflight=20)
    return Publisher(
        cfg,
        client_id=name,
        outbox=outbox,
        site="bench",
        gateway=name,
        subscriptions=[],
        on_message=lambda _t, _p: None,
        metrics=EdgeMetrics(),
    )


def rows(n: int, start: int = 0) -> list[NewRow]:
    return [NewRow(event_id=f"e{start + i}", kind="batch_movement", topic="bench/outbox", payload=PAYLOAD,
                   created_us=start + i) for i in range(n)]  # fmt: skip


def through_outbox(port: int, n: int, tmp: Path) -> float:
    ob = Outbox(tmp / "throughput.db")
    pub = publisher(port, ob, "bench-outbox").start()
    pub.connected.wait(10)
    start = time.perf_counter()
    for i in range(0, n, 500):  # the rules thread commits in batches
        ob.append(rows(min(500, n - i), i))
        pub.wakeup.set()
    pub.drain(600)
    elapsed = time.perf_counter() - start
    pub.stop()
    ob.close()
    return n / elapsed


def latency(port: int, n: int, rate: float, tmp: Path) -> tuple[float, float]:
    received: dict[str, float] = {}
    sub = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=MQTTProtocolVersion.MQTTv5
    )

    def on_message(_c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        received.setdefault(json.loads(m.payload)["id"], time.perf_counter())

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("bench/latency", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    ob = Outbox(tmp / "latency.db")
    pub = publisher(port, ob, "bench-latency").start()
    pub.connected.wait(10)
    produced: dict[str, float] = {}
    for i in range(n):
        eid = f"l{i}"
        produced[eid] = time.perf_counter()  # the event leaves the rules core now
        ob.append([NewRow(event_id=eid, kind="batch_movement", topic="bench/latency",
                          payload=json.dumps({"id": eid}).encode(), created_us=i)])  # fmt: skip
        pub.wakeup.set()
        time.sleep(1 / rate)
    pub.drain(60)
    time.sleep(0.5)
    pub.stop()
    sub.loop_stop()
    ob.close()
    lat = sorted(received[e] - produced[e] for e in produced if e in received)
    return lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


RSS_SCRIPT = """
import resource, sys
from edge import daemon  # the daemon's code and its libraries
from rules.config import ReadPointConfig, RulesConfig, ZoneConfig
from rules.epc import encode_sgtin96
from rules.gateway import GatewayRules
from rules.observations import TagRead
cfg = RulesConfig(site="s", gateway="g", zones=(ZoneConfig(name="store", absence_timeout_s=86400),),
                  read_points=(ReadPointConfig(name="shelves", zone="store", antennas=(("r", 1),)),))
g = GatewayRules(cfg)
n = int(sys.argv[1])
t = 1_800_000_000_000_000
for i in range(n):  # items arrive in batches of 1000 a second, as the daemon would see them
    if i % 1000 == 0:
        t += 1_000_000
        g.tick(t)
    e = encode_sgtin96("04012345000016", i + 1, company_prefix_length=7)
    g.feed(TagRead(reader="r", antenna=1, epc_hex=e, t_us=t, rssi_dbm=-60.0))
    g.feed(TagRead(reader="r", antenna=1, epc_hex=e, t_us=t + 1000, rssi_dbm=-61.0))
g.tick(t + 10_000_000)
assert len(g.areas.present()) == n
print(int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024)
"""


def rss_mb(tags: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(tags)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def drain(port: int, backlog: int, tmp: Path) -> tuple[float, float]:
    ob = Outbox(tmp / "backlog.db")
    start = time.perf_counter()
    for i in range(0, backlog, 5000):  # written while the broker was away
        ob.append(rows(min(5000, backlog - i), i))
    fill_s = time.perf_counter() - start
    pub = publisher(port, ob, "bench-drain").start()
    start = time.perf_counter()
    pub.drain(3600)
    elapsed = time.perf_counter() - start
    pub.stop()
    ob.close()
    return elapsed, fill_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--backlog", type=int, default=300_000)
    parser.add_argument("--tags", type=int, default=100_000)
    args = parser.parse_args()
    from hwms_common.logs import configure

    configure("WARNING")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker, port = start_broker(tmp)
        try:
            raw = raw_paho(port, args.events)
            boxed = through_outbox(port, args.events, tmp)
            print(f"raw paho QoS 1:        {raw:>10,.0f} events/s")
            print(
                f"outbox + publisher:    {boxed:>10,.0f} events/s  ({boxed / raw:.0%} of raw; target >= 50%)"
            )
            p50, p99 = latency(port, 1000, 200.0, tmp)
            print(f"event -> subscriber:   p50 {p50:.1f} ms, p99 {p99:.1f} ms (200 events/s)")
            print(f"RSS, {args.tags:,} present tags: {rss_mb(args.tags):.0f} MB (target <= 100 MB)")
            took, fill = drain(port, args.backlog, tmp)
            print(f"drain {args.backlog:,} backlog: {took:.1f} s ({args.backlog / took:,.0f} events/s; "
                  f"writing it took {fill:.1f} s)")  # fmt: skip
        finally:
            broker.terminate()
            broker.wait()


if __name__ == "__main__":
    main()
