"""What the PDFs hwms writes share (purchase orders, cold-chain records): a font with
Chinese glyphs embedded where one is installed, and text made safe for ReportLab's
paragraph markup."""

from __future__ import annotations

from pathlib import Path

# TrueType fonts with Chinese glyphs, embedded (subset) so that any reader shows them;
# Debian's fonts-wqy-zenhei (scripts/system-deps.sh) first
CJK_FONTS = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)


def cjk_font() -> str:
    """The name of a registered font for Chinese and Latin text: an embedded TrueType font
    when one is installed, otherwise Adobe's STSong-Light by reference (readers with Adobe's
    CJK packs show it, others may not)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    registered = set(pdfmetrics.getRegisteredFontNames())
    for path, index in CJK_FONTS:
        if Path(path).exists():
            if "hwms-cjk" not in registered:
                pdfmetrics.registerFont(TTFont("hwms-cjk", path, subfontIndex=index))
            return "hwms-cjk"
    if "STSong-Light" not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def escape(text: str) -> str:
    """Text for a ReportLab Paragraph (a small XML markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
