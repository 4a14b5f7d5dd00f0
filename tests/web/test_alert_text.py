"""Alert messages read in Chinese: every shape the ledger writes (taken from the code that
writes it, not retyped) is said from the catalogue; an unknown shape stays as written."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from central import alerts
from central.web.alert_text import translate
from central.web.i18n import TRANSLATIONS
from rules.events import (
    AlarmState,
    Batch,
    BatchMovement,
    CabinetAlert,
    ColdChainTransition,
    Direction,
    Event,
    ReaderStatusEvent,
    SensorStatus,
    stamp,
)

T = 1_800_000_000_000_000
GTIN = "04012345000016"


def written(e: Event) -> str:
    [(_kind, _key, condition)] = alerts.from_event(stamp(e, site="s1", gateway="gw1", seq=1))
    assert condition is not None
    return condition.message


COLD = ColdChainTransition(
    occurred_at_us=T, unit="fridge-2", sensor="probe-2", condition="high_alarm",
    from_state=AlarmState.PENDING, to_state=AlarmState.ACTIVE, value_c=9.4, threshold_c=8.0,
    excursion_started_us=T - 20 * 60_000_000,
)  # fmt: skip


def cold(**change: object) -> Event:
    return dataclasses.replace(COLD, **change)  # type: ignore[arg-type]


MESSAGES = [
    written(cold()),
    written(cold(min_c=8.2, max_c=9.6, mkt_c=9.1, condition="low_warn")),
    written(cold(value_c=None, threshold_c=None, excursion_started_us=None, condition="freeze")),
    written(SensorStatus(occurred_at_us=T, sensor="probe-2", unit="fridge-2", status="offline",
                         reason="no valid sample for 600 s")),
    written(SensorStatus(occurred_at_us=T, sensor="probe-2", unit="fridge-2", status="fault",
                         reason="sentinel value 850.0")),
    written(ReaderStatusEvent(occurred_at_us=T, reader="door-1", state="down", reason="timeout")),
    written(CabinetAlert(occurred_at_us=T, cabinet="or-cab", reason="unattributed_change",
                         detail="2 items taken without a badge")),
    written(BatchMovement(occurred_at_us=T, read_point="door", direction=Direction.IN,
                          from_zone="a", to_zone="b", biz_step=None,
                          batch=Batch(gtin=GTIN, lot="L1"), quantity=1,
                          epcs=("urn:epc:id:sgtin:4012345.000001.1",), first_seen_us=T,
                          last_seen_us=T, confidence=1.0, uncommissioned=True)),
    alerts.gateway_status("s1", "gw1", "offline", "lost")[2].message,  # type: ignore[union-attr]
    alerts._level_condition(7, GTIN, 5, 20, None, 0, "s1/ward-5").message,  # type: ignore[union-attr]
    alerts._level_condition(7, GTIN, 5, 20, 12, 3, "s1/ward-5").message,  # type: ignore[union-attr]
    alerts._level_condition(7, GTIN, 5, 20, None, 30, "s1/ward-5").message,  # type: ignore[union-attr]
    alerts._expiry_condition((1, GTIN, "L1", date(2030, 1, 31), 7, "s1/store", 4),
                             date(2030, 1, 10), (90, 30, 7)).message,  # type: ignore[union-attr]
    alerts._expiry_condition((1, GTIN, "L1", date(2030, 1, 1), 7, "s1/store", 4),
                             date(2030, 1, 10), (90, 30, 7)).message,  # type: ignore[union-attr]
]  # fmt: skip


@pytest.mark.parametrize("message", MESSAGES)
def test_every_alert_shape_is_said_in_chinese(message: str) -> None:
    zh = translate(message, "zh_CN", TRANSLATIONS["zh_CN"].gettext)
    assert zh != message and "%(" not in zh
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), zh
    assert translate(message, "en", TRANSLATIONS["en"].gettext) == message


def test_an_unknown_shape_stays_as_written() -> None:
    assert translate("something new happened", "zh_CN", TRANSLATIONS["zh_CN"].gettext) == (
        "something new happened"
    )
