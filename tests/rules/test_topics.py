"""The topic tree: every builder's topic parses back to what built it; anything else parses
to None or to a topic under a gateway, never to an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules import topics
from rules.events import NAME

names = st.from_regex(NAME, fullmatch=True).filter(lambda n: n not in ("central",))


@given(site=names, gateway=names, kind=names)
def test_builders_parse_back(site: str, gateway: str, kind: str) -> None:
    p = topics.parse_gateway_topic
    assert p(topics.event_topic(site, gateway, kind)) == topics.GatewayTopic(
        site, gateway, "events", (kind,)
    )
    assert p(topics.event_topic(site, gateway, kind)).kind == kind  # type: ignore[union-attr]
    assert p(topics.status_topic(site, gateway)) == topics.GatewayTopic(site, gateway, "status")
    assert p(topics.ack_topic(site, gateway)) == topics.GatewayTopic(site, gateway, "ack")
    reader = p(topics.reader_status_topic(site, gateway, kind))
    assert reader == topics.GatewayTopic(site, gateway, "readers", (kind, "status"))
    assert reader is not None and reader.kind is None
    assert p(topics.commissioning_topic(site)) is None
    assert p(topics.commissioning_delta_topic(site)) is None


def test_central_topics_are_not_gateway_topics() -> None:
    assert topics.parse_gateway_topic(topics.LEDGER_STATUS_TOPIC) is None
    assert topics.parse_gateway_topic(topics.alert_topic("recall")) is None
    assert topics.parse_gateway_topic("other/v1/a/b/events/x") is None
    assert topics.parse_gateway_topic("hwms/v1/a/b") is None


@given(st.text(max_size=200))
def test_fuzz_parse(topic: str) -> None:
    got = topics.parse_gateway_topic(topic)
    assert got is None or topic.startswith(f"{topics.gateway_base(got.site, got.gateway)}/")
