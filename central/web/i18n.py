"""Simplified Chinese and English: gettext catalogues (`locale/<lang>/LC_MESSAGES/
messages.po`) read with Babel when the app starts (no compile step), and the language
chosen from a `lang` cookie or the browser's Accept-Language."""

from __future__ import annotations

import gettext
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")  # the first is the default
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
_DIR = Path(__file__).resolve().parent / "locale"


def _load(lang: str) -> gettext.NullTranslations:
    path = _DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


TRANSLATIONS = {lang: _load(lang) for lang in LOCALES}


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The `lang` cookie when it names a language we have, else the browser's preference."""
    if cookie in LOCALES:
        return cookie
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        if tag:
            try:
                wanted.append((float(q or 1), tag.replace("-", "_")))
            except ValueError:
                continue
    preferred = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
    found = Locale.negotiate(preferred, list(LOCALES), sep="_") if preferred else None
    return str(found) if found is not None and str(found) in LOCALES else LOCALES[0]
