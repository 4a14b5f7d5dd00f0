#!/bin/sh
# System packages the tests and the demo use: mosquitto (broker, mosquitto_passwd),
# promtool (from Debian's prometheus package), openssl, systemd-analyze, and for the browser
# tests Debian's chromium (Playwright drives it; no browser download) with fonts-noto-cjk so
# that Chinese renders, nginx to test the reverse-proxy example, and poppler-utils to look
# at the PDFs hwms writes (purchase orders) as pictures, with fonts-wqy-zenhei, a TrueType
# CJK font those PDFs embed.
# Installs only what is missing, and only where it can (root with apt-get).
set -e
missing=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v pdftoppm >/dev/null 2>&1 || missing="$missing poppler-utils"
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing="$missing fonts-wqy-zenhei"
[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto | grep -q CJK \
    || missing="$missing fonts-noto-cjk"
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing system packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
else
    echo "warning: missing system packages:$missing (install them; some tests need them)" >&2
fi
