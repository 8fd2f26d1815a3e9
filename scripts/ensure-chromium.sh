#!/usr/bin/env bash
# The browser tests drive Debian's chromium through playwright-core; nothing downloads a browser.
# On a fresh Debian machine (as root) this installs it; elsewhere it says what is missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "The browser tests need /usr/bin/chromium: install Debian's chromium package (apt-get install -y chromium)." >&2
exit 1
