"""Alert messages in the reader's language. The ledger writes each alert's message once,
in English, from a fixed shape per kind (central/alerts.py and the ledger); a screen in
another language reads the shape back and says it from the catalogue. A message of an
unknown shape (an older release's, a new kind) is shown as it was written."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final


def N_(message: str) -> str:  # noqa: N802 (gettext's marker for messages to translate)
    return message


NUM = r"-?\d+(?:\.\d+)?"
_COLD = re.compile(
    rf"cold chain (?P<condition>high alarm|low alarm|high warn|low warn|freeze|cumulative)"
    rf" in (?P<unit>.+?) at (?P<site>\S+?)(?: at (?P<value>{NUM}) °C)?"
    rf"(?: \(limit (?P<limit>{NUM}) °C\))?(?:; out of range for (?P<minutes>\d+) min)?"
    rf"(?:, min (?P<min>{NUM}) / max (?P<max>{NUM}) °C)?(?:, MKT (?P<mkt>{NUM}) °C)?"
)
_CONDITIONS: Final = {
    "high alarm": N_("high temperature alarm"),
    "low alarm": N_("low temperature alarm"),
    "high warn": N_("high temperature warning"),
    "low warn": N_("low temperature warning"),
    "freeze": N_("freezing"),
    "cumulative": N_("too long out of range"),
}
_CABINET_REASONS: Final = {
    "door ajar": N_("door ajar"),
    "scan failed": N_("scan failed"),
    "suspect missing": N_("suspect missing items"),
    "unattributed change": N_("unattributed change"),
}
# (shape, the message in the catalogue with the shape's groups)
SHAPES: Final[list[tuple[re.Pattern[str], str]]] = [
    (re.compile(r"(?P<gtin>\d{14}) is out of stock at (?P<where>\S+)"),
     N_("%(gtin)s is out of stock at %(where)s")),
    (re.compile(r"(?P<qty>\d+) x (?P<gtin>\d{14}) at (?P<where>\S+) is below (?P<low>\d+):"
                r" reorder (?P<reorder>\d+)"),
     N_("%(qty)s x %(gtin)s at %(where)s is below %(low)s: reorder %(reorder)s")),
    (re.compile(r"(?P<qty>\d+) x (?P<gtin>\d{14}) at (?P<where>\S+) is above (?P<high>\d+)"),
     N_("%(qty)s x %(gtin)s at %(where)s is above %(high)s")),
    (re.compile(r"(?P<qty>\d+) x (?P<gtin>\d*) lot (?P<lot>\S*) at (?P<where>\S+) expires on"
                r" (?P<day>[\d-]+) \(within the (?P<days>\d+)-day horizon\)"),
     N_("%(qty)s x %(gtin)s lot %(lot)s at %(where)s expires on %(day)s (within %(days)s "
        "days)")),
    (re.compile(r"(?P<qty>\d+) x (?P<gtin>\d*) lot (?P<lot>\S*) at (?P<where>\S+) expired on"
                r" (?P<day>[\d-]+)"),
     N_("%(qty)s x %(gtin)s lot %(lot)s at %(where)s expired on %(day)s")),
    (re.compile(r"batch (?P<gtin>\d*) lot (?P<lot>\S*) locked by (?P<user>\S+)"),
     N_("batch %(gtin)s lot %(lot)s locked by %(user)s")),
    (re.compile(r"(?P<qty>\d+) x recalled batch (?P<gtin>\d*) lot (?P<lot>\S*) moved"
                r" \((?P<how>[^,]+), (?P<who>[^)]+)\)"),
     N_("%(qty)s x recalled batch %(gtin)s lot %(lot)s moved (%(how)s, %(who)s)")),
    (re.compile(r"reader (?P<reader>\S+) at (?P<where>\S+) is down: (?P<reason>.*)"),
     N_("reader %(reader)s at %(where)s is down: %(reason)s")),
    (re.compile(r"gateway (?P<gateway>\S+) at (?P<site>\S+) is offline(?:: (?P<reason>.*))?"),
     N_("gateway %(gateway)s at %(site)s is offline")),
    (re.compile(r"no data from (?P<unit>.+?) \((?P<sensor>\S+) at (?P<where>\S+)\):"
                r" (?P<reason>.*)"),
     N_("no data from %(unit)s (%(sensor)s at %(where)s): %(reason)s")),
    (re.compile(r"faulty sensor in (?P<unit>.+?) \((?P<sensor>\S+) at (?P<where>\S+)\):"
                r" (?P<reason>.*)"),
     N_("faulty sensor in %(unit)s (%(sensor)s at %(where)s): %(reason)s")),
    (re.compile(r"(?P<qty>\d+) uncommissioned tag\(s\) of (?P<gtin>\S+) seen at (?P<place>\S+)"
                r" \((?P<site>\S+)\)"),
     N_("%(qty)s uncommissioned tag(s) of %(gtin)s seen at %(place)s (%(site)s)")),
    (re.compile(r"requisition #(?P<id>\d+) for (?P<where>\S+) waits for the (?P<role>\S+)'s"
                r" approval"),
     N_("requisition #%(id)s for %(where)s waits for the %(role)s's approval")),
    (re.compile(r"requisition #(?P<id>\d+) for (?P<where>\S+): issued goods have not arrived"),
     N_("requisition #%(id)s for %(where)s: issued goods have not arrived")),
    (re.compile(r"emergency requisition #(?P<id>\d+) for (?P<where>\S+) awaits its review"),
     N_("emergency requisition #%(id)s for %(where)s awaits its review")),
    (re.compile(r"(?P<what>.+) taken by (?P<who>\S+) at (?P<where>\S+) has no second"
                r" person's confirmation"),
     N_("%(what)s taken by %(who)s at %(where)s has no second person's confirmation")),
]  # fmt: skip
_CABINET = re.compile(r"cabinet (?P<cabinet>\S+) at (?P<site>\S+): (?P<reason>door ajar|scan "
                      r"failed|suspect missing|unattributed change): (?P<detail>.*)")  # fmt: skip


def translate(message: str, lang: str, gettext: Callable[[str], str]) -> str:
    """`message` in `lang` (with its catalogue's `gettext`) when its shape is known, else
    as written (and as written in English, the language it is written in)."""
    if lang == "en":
        return message
    if m := _COLD.fullmatch(message):
        g = m.groupdict()
        text = gettext("%(condition)s in %(unit)s at %(site)s") % {
            "condition": gettext(_CONDITIONS[g["condition"]]), "unit": g["unit"],
            "site": g["site"]}  # fmt: skip
        if g["value"]:
            text += gettext(", at %(value)s °C") % g
        if g["limit"]:
            text += gettext(" (limit %(limit)s °C)") % g
        if g["minutes"]:
            text += gettext("; out of range for %(minutes)s min") % g
        if g["min"]:
            text += gettext(", min %(min)s / max %(max)s °C") % g
        if g["mkt"]:
            text += gettext(", MKT %(mkt)s °C") % g
        return text
    if m := _CABINET.fullmatch(message):
        g = m.groupdict()
        return gettext("cabinet %(cabinet)s at %(site)s: %(reason)s: %(detail)s") % (
            g | {"reason": gettext(_CABINET_REASONS[g["reason"]])}
        )
    for shape, text in SHAPES:
        if m := shape.fullmatch(message):
            groups = {k: v or "" for k, v in m.groupdict().items()}
            if groups.get("role"):  # a role's name is in the catalogue too
                groups["role"] = gettext(groups["role"])
            return gettext(text) % groups
    return message
