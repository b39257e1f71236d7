#!/usr/bin/env bash
# Debian's headless Chromium and ChromeDriver for the browser tests (tests/e2e/test_*_in_browser.py).
#
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are already there.
# Otherwise installs the Debian packages `chromium` and `chromium-driver` with apt-get (as root, or
# through sudo when it needs no password). Never a browser download of a test tool's own.
# Where apt-get can't be used (no apt-get, not root) it prints why and exits 0: the browser test
# then skips itself and the rest of the suite still runs. If apt-get runs and fails, it exits 1.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

note() { echo "install-browser: $*" >&2; }

if [[ -x $CHROMIUM && -x $CHROMEDRIVER ]]; then
    note "Chromium and ChromeDriver already installed ($CHROMIUM, $CHROMEDRIVER)."
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    note "NOTE: apt-get not found; install Chromium and ChromeDriver yourself at $CHROMIUM and"
    note "$CHROMEDRIVER. Until then the browser test is skipped."
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    note "NOTE: not root (and no password-less sudo), so Chromium was not installed; run"
    note "'sudo $0' to install it. Until then the browser test is skipped."
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
note "installing Debian's chromium and chromium-driver with apt-get ..."
if "${as_root[@]}" apt-get update -qq </dev/null &&
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver \
        </dev/null; then
    note "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
    note "ERROR: apt-get could not install chromium and chromium-driver (see above)."
    exit 1
fi
