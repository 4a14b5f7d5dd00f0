"""Every text of the web app has its Simplified Chinese translation: the messages found in
the templates and the web code (Babel's extractors) and the role names shown."""

from __future__ import annotations

from pathlib import Path

import jinja2.ext
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.pofile import read_po

from central.vocab import Role
from central.web.i18n import negotiate

WEB = Path(__file__).resolve().parents[2] / "central" / "web"


def used() -> set[str]:
    found: set[str] = set()
    for path in (WEB / "templates").glob("*.html"):
        with path.open("rb") as f:
            found |= {m[1] if isinstance(m[1], str) else m[1][0]
                      for m in extract(jinja2.ext.babel_extract, f, DEFAULT_KEYWORDS)}  # type: ignore[arg-type]  # fmt: skip
    for path in WEB.glob("*.py"):
        with path.open("rb") as f:
            found |= {m[1] if isinstance(m[1], str) else m[1][0]
                      for m in extract("python", f, {**DEFAULT_KEYWORDS, "t": None, "text": (2,)})}  # fmt: skip
    return found | {r.value for r in Role}


def test_every_message_is_translated_to_chinese() -> None:
    with (WEB / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}
    missing = sorted(used() - translated)
    assert missing == [], missing


def test_language_from_cookie_then_browser() -> None:
    assert negotiate(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert negotiate(None, "en-US,en;q=0.9") == "en"
    assert negotiate(None, "fr-FR") == "zh_CN"  # the hospital's language by default
    assert negotiate("en", "zh-CN") == "en"
    assert negotiate("xx", "en") == "en"
    assert negotiate(None, "en;q=garbage,,;") == "zh_CN"
