"""The edge daemon's rules-thread logic without IO: sequence numbers given at the commit
point (an event the rules emit again after a restart from an older snapshot uses no number,
so the ledger's acknowledgement sees no hole; a number is never given twice, also across
restarts), and command topics that nothing thrown at them can break."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import load
from edge.daemon import EdgeDaemon, _Command
from rules.events import ReaderStatusEvent, stamp


def daemon(tmp_path: Path) -> EdgeDaemon:
    cfg = {"site": "demo", "gateway": "gw1", "outbox": {"path": str(tmp_path / "outbox.db")},
           "metrics": {"port": 0}, "zones": [{"name": "store"}]}  # fmt: skip
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return EdgeDaemon(load(path))


def status(i: int) -> ReaderStatusEvent:
    e = ReaderStatusEvent(occurred_at_us=1_800_000_000_000_000 + i, reader="r1", state="down",
                          reason=f"r{i}")  # fmt: skip
    return stamp(e, site="demo", gateway="gw1", seq=500 + i)  # the rules' own numbers


def seqs(d: EdgeDaemon) -> list[tuple[str, int]]:
    events = [json.loads(r.payload) for r in d.outbox.peek(0, 100)]
    return [(e["body"]["reason"], e["seq"]) for e in events]


def test_repeated_events_use_no_number_and_numbers_survive_a_restart(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    d._stage([status(1), status(2)])
    d._stage([status(2), status(3)])  # 2 again before the commit
    d._commit()
    d._stage([status(1), status(4)])  # 1 again after the commit
    d._commit()
    assert seqs(d) == [("r1", 1), ("r2", 2), ("r3", 3), ("r4", 4)]
    assert d.metrics.events_repeated._value.get() == 2
    d.outbox.close()
    again = daemon(tmp_path)  # a restart: numbering goes on
    again._stage([status(4), status(5)])
    again._commit()
    assert seqs(again)[-1] == ("r5", 5)
    again.outbox.close()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)  # fmt: skip
TOPICS = ["hwms/v1/demo/commissioning", "hwms/v1/demo/commissioning/delta",
          "hwms/v1/demo/gw1/cmd/reload-commissioning", "hwms/v1/demo/gw1/cmd/cabinet/x/unlock",
          "hwms/v1/demo/gw1/cmd/anything"]  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(topic=st.sampled_from(TOPICS), doc=_JSON, raw=st.binary(max_size=60), use_raw=st.booleans())
def test_fuzz_the_command_topics_and_a_good_map_still_applies(
    tmp_path: Path, topic: str, doc: object, raw: bytes, use_raw: bool
) -> None:
    d = DAEMONS.get(tmp_path) or DAEMONS.setdefault(tmp_path, daemon(tmp_path))
    payload = raw if use_raw else json.dumps(doc).encode()
    d.commands.put(_Command(topic, payload))
    d._apply_commands()  # never raises
    version = d.commissioning.snapshot_version + 1
    good = {"schema": 1, "version": version,
            "records": {"urn:epc:id:sgtin:4012345.000001.1": {"gtin": "04012345000016", "lot": "L1"}}}  # fmt: skip
    d.commands.put(_Command("hwms/v1/demo/commissioning", json.dumps(good).encode()))
    d._apply_commands()
    assert d.commissioning.version == version  # the canary map went through


DAEMONS: dict[Path, EdgeDaemon] = {}
