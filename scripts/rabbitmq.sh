#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers on 127.0.0.1:5672: installs Debian's rabbitmq-server
# when it is missing and starts it when it is stopped. Sourced by run-local.sh and .ci/run.

amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

ensure_rabbitmq() {
  if amqp_up; then return 0; fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "rabbitmq-server is missing: installing Debian's package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  if ! amqp_up; then
    echo "starting rabbitmq-server"
    rabbitmq-server -detached
  fi
  for _ in $(seq 1 120); do
    if amqp_up && rabbitmqctl -q status >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "RabbitMQ did not come up on 127.0.0.1:5672 within 120 s" >&2
  return 1
}
