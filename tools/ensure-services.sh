#!/usr/bin/env bash
# Makes sure what the integration tier needs is on this machine: the Debian packages the tests
# run (bubblewrap, git, ripgrep for search_text), Postgres on 127.0.0.1:5432 and NATS with JetStream on 127.0.0.1:4222.
# Starts a service only when it is down; never restarts a running one.
set -euo pipefail

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v nats-server >/dev/null 2>&1 || need_apt+=(nats-server)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "ensure-services: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need_apt[@]}" >&2
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 0.5
  done
  echo "ensure-services: $name did not come up on 127.0.0.1:$port" >&2
  return 1
}

if ! port_open 5432; then
  echo "ensure-services: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
  wait_port 5432 PostgreSQL
fi

if ! port_open 4222; then
  echo "ensure-services: starting nats-server with JetStream" >&2
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 NATS
fi
echo "ensure-services: bwrap, PostgreSQL :5432 and NATS :4222 ready" >&2
