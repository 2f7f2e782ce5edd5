#!/usr/bin/env bash
# Installs the Node servers that `commonboard-load compare` starts: the y-websocket
# reference server and Hocuspocus, at the versions locked in package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null 2>&1 || {
  echo "error: npm is not installed. Install Node.js 20 or newer (Debian: apt-get install nodejs npm)." >&2
  exit 1
}
npm ci --no-audit --no-fund --loglevel=error
