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
    # Debian's package starts a system-wide server on port 6379; the tests start their own
    # on a free port, so keep the package from starting one (a policy-rc.d that says "no",
    # honoured by invoke-rc.d and deb-systemd-invoke), unless the machine has its own policy.
    POLICY=/usr/sbin/policy-rc.d
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# written by install-test-servers.sh while installing redis-server\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        trap 'rm -f "$POLICY"' EXIT
        OURS_POLICY=1
    fi
    if ! apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1; then
        apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends redis-server >/dev/null 2>&1 \
            || echo "install-test-servers: apt-get could not install redis-server; Redis tests will skip"
    fi
    if [ -n "${OURS_POLICY:-}" ]; then
        rm -f "$POLICY"
        trap - EXIT
    fi
    # Belt and braces (a machine whose own policy allowed the start): stop what the package
    # started, by its service, and leave it disabled at boot.
    if [ -s /run/redis/redis-server.pid ] && kill -0 "$(cat /run/redis/redis-server.pid)" 2>/dev/null; then
        echo "install-test-servers: stopping the system-wide redis-server the package started"
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
            systemctl stop redis-server; systemctl disable --quiet redis-server 2>/dev/null
        else
            service redis-server stop >/dev/null 2>&1 || kill "$(cat /run/redis/redis-server.pid)"
        fi
    fi
else
    echo "install-test-servers: no redis-server and no apt-get as root to install it; Redis tests will skip"
fi

if [ -x "$SERVERS/node_modules/.bin/azurite-blob" ]; then
    echo "install-test-servers: azurite present ($SERVERS/node_modules/.bin/azurite-blob)"
elif command -v npm >/dev/null 2>&1; then
    echo "install-test-servers: installing azurite 3 with npm into $SERVERS"
    mkdir -p "$SERVERS"
    # Major version pinned: the tests speak the Blob API version azurite 3 serves.
    npm install --silent --no-audit --no-fund --prefix "$SERVERS" "azurite@3" >/dev/null 2>&1 \
        || echo "install-test-servers: npm could not install azurite; Azure tests will skip"
else
    echo "install-test-servers: no npm (Node.js) to install azurite; Azure tests will skip"
fi
exit 0
