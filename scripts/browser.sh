#!/usr/bin/env bash
# The browser the web interface's tests drive: Debian's Chromium at
# /usr/bin/chromium, driven by Playwright (a Python package of the test extra;
# Playwright's own browser downloads are not used).
#   bash scripts/browser.sh setup   install Chromium if it is missing and we may
set -euo pipefail

case "${1:-}" in
  setup)
    if [ -x /usr/bin/chromium ]; then
      exit 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "== installing Debian's chromium for the browser tests"
      # wait for the package lock if another apt run holds it
      apt-get -o DPkg::Lock::Timeout=600 update -qq
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
        install -y -qq chromium >/dev/null
    else
      echo "browser.sh: no /usr/bin/chromium and no way to install it here;" \
        "install Debian's chromium, or set ZOE_SKIP_BROWSER=1" >&2
    fi
    ;;
  *)
    echo "usage: bash scripts/browser.sh setup" >&2
    exit 2
    ;;
esac
