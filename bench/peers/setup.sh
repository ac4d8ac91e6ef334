#!/bin/sh
# Installs the peers of `python -m bench`: redis-server (apt); bullmq + nodemailer (npm) into
# bench/peers/node_modules; Celery 5 (pip) into its own virtualenv, bench/peers/celery-venv. Node.js must already
# be on PATH. Not run by CI: the quick benchmark skips the peers.
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
[ -x celery-venv/bin/python ] || python3 -m venv celery-venv
celery-venv/bin/pip install -q 'celery[redis]>=5,<6' 'jinja2>=3'
echo "peers ready: $(redis-server --version | cut -d' ' -f3), node $(node --version)," \
    "celery $(celery-venv/bin/python -c 'import celery; print(celery.__version__)')"
