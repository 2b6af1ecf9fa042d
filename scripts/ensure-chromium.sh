#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver are present for tests/browser/ (Playwright
# drives /usr/bin/chromium through executable_path; `playwright install` is never used).
#
# Missing and running as root: install them with apt-get. Missing otherwise: in CI
# (CI=true) that is an error; on a developer machine print how to install and carry on
# (the browser tests then skip).
set -euo pipefail

chromium=/usr/bin/chromium

if [ -x "$chromium" ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $chromium missing; installing chromium chromium-driver with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q chromium chromium-driver; }; then
        echo "ensure-chromium: apt-get could not install chromium" >&2
    fi
fi

if [ -x "$chromium" ]; then
    exit 0
fi

case "${CI:-}" in
    1 | true | TRUE | True | yes)
        echo "ensure-chromium: ERROR: $chromium is missing and CI is set: browser tests cannot run." >&2
        echo "ensure-chromium: install it with: apt-get install -y chromium chromium-driver" >&2
        exit 1
        ;;
esac
echo "ensure-chromium: WARNING: $chromium is missing, so tests/browser/ will be skipped." >&2
echo "ensure-chromium: install it with: sudo apt-get install -y chromium chromium-driver" >&2
exit 0
