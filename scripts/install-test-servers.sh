#!/usr/bin/env bash
# Install the servers the store tests run against: Debian's redis-server (apt-get) and
# npm's azurite (Azure Blob emulator) into the project-local, git-ignored folder .servers/.
# Idempotent and quick when both are there. Where a server cannot be installed (no root,
# no apt-get, no npm, no network) it says why and carries on: its tests then skip with
# that reason.
set -u
cd "$(dirname "$0")/.."
SERVERS="$PWD/.servers"

if command -v redis-server >/dev/null 2>&1; then
    echo "install-test-servers: redis-server present ($(command -v redis-server))"
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "install-test-servers: installing redis-server with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 \
            || echo "install-test-servers: apt-get could not install redis-server; Redis tests will skip"
    fi
    # Debian's package may start a system-wide server: the tests start their own on a free port.
else
    echo "install-test-servers: no redis-server and no apt-get as root to install it; Redis tests will skip"
fi

if [ -x "$SERVERS/node_modules/.bin/azurite-blob" ]; then
    echo "install-test-servers: azurite present ($SERVERS/node_modules/.bin/azurite-blob)"
elif command -v npm >/dev/null 2>&1; then
    echo "install-test-servers: installing azurite with npm into $SERVERS"
    mkdir -p "$SERVERS"
    npm install --silent --no-audit --no-fund --prefix "$SERVERS" azurite >/dev/null 2>&1 \
        || echo "install-test-servers: npm could not install azurite; Azure tests will skip"
else
    echo "install-test-servers: no npm (Node.js) to install azurite; Azure tests will skip"
fi
exit 0
