#!/bin/sh
# Installs the BullMQ peer of `python -m bench`: redis-server (apt) and bullmq + nodemailer (npm) into
# bench/peers/node_modules. Node.js must already be on PATH. Not run by CI: the quick benchmark skips the peer.
set -eu
cd "$(dirname "$0")"
if ! command -v redis-server >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    $SUDO apt-get install -y redis-server
fi
command -v node >/dev/null 2>&1 || { echo "node is not installed: install Node.js 18+ first" >&2; exit 1; }
npm install --no-audit --no-fund
echo "peer ready: $(redis-server --version | cut -d' ' -f3), node $(node --version)"
