#!/usr/bin/env bash
# Runs the whole mesh on this machine: RabbitMQ (started, or installed, if needed), vendor-sim,
# ingest, presence, registry and a dispatcher per vendor (FCM, APNs, Huawei, Xiaomi, OPPO,
# vivo, Honor; every vendor API is vendor-sim); registers a device, publishes a message, and
# prints the push as vendor-sim received it. The mesh keeps running until Ctrl-C
# (or pass --exit to stop after the demo).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/rabbitmq.sh
ensure_rabbitmq

export PUSHMESH_CONFIG="$PWD/config/pushmesh.toml"
profile=${PUSHMESH_PROFILE:-debug}
flag=""; [ "$profile" = release ] && flag="--release"
echo "building ($profile)..."
cargo build $flag --workspace --bins -q
bin="target/$profile"

mkdir -p .run/logs
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

dispatchers="dispatch-fcm dispatch-apns dispatch-huawei dispatch-xiaomi dispatch-oppo dispatch-vivo dispatch-honor"
for svc in vendor-sim ingest presence registry $dispatchers; do
  "$bin/$svc" >".run/logs/$svc.log" 2>&1 &
  pids+=($!)
done
for port in 9200 9101 9102 9103 9110 9111 9112 9113 9114 9115 9116; do
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "service on :$port is not ready: see .run/logs"; exit 1; }
done
echo "mesh is up: ingest :9101, presence :9102, registry :9103, dispatchers :9110-9116, vendor-sim :9200 (APNs :9201)"

# What bob's phone does at login, with the user token the demo app's server gave it.
user_token=$(PUSHMESH_CONFIG=config/pushmesh.toml "$bin/pushmesh-cli" token demo bob)
token="demo-fcm-token-$RANDOM"
echo "bob's phone registers its FCM token and binds the device to bob:"
echo "  curl -X POST localhost:9103/v1/apps/demo/devices -H \"authorization: Bearer \$USER_TOKEN\" -H 'content-type: application/json' -d '{\"vendor\":\"fcm\",\"token\":\"$token\"}'"
push_id=$(curl -fs -X POST http://127.0.0.1:9103/v1/apps/demo/devices \
  -H "authorization: Bearer $user_token" \
  -H 'content-type: application/json' -d "{\"vendor\":\"fcm\",\"token\":\"$token\",\"platform\":\"android\"}" \
  | sed -E 's/.*"push_id":"([^"]+)".*/\1/')
echo "  curl -X PUT localhost:9103/v1/apps/demo/devices/$push_id/user -H \"authorization: Bearer \$USER_TOKEN\" -H 'content-type: application/json' -d '{\"user_id\":\"bob\"}'"
curl -fs -X PUT "http://127.0.0.1:9103/v1/apps/demo/devices/$push_id/user" \
  -H "authorization: Bearer $user_token" \
  -H 'content-type: application/json' -d '{"user_id":"bob"}'
echo "registered device $push_id (FCM token $token) and bound it to user bob"
echo "(USER_TOKEN=\$(PUSHMESH_CONFIG=config/pushmesh.toml $bin/pushmesh-cli token demo bob) mints bob's token;"
echo " the demo app's server key is in fixtures/demo-api-keys)"

message_id="demo-$(date +%s)-$RANDOM"
"$bin/pushmesh-cli" publish im.message "{\"app_id\":\"demo\",\"message_id\":\"$message_id\",
  \"conversation_type\":\"peer\",\"conversation_id\":\"alice:bob\",\"sender_id\":\"alice\",
  \"recipients\":[\"bob\"],\"push\":{\"title\":\"Alice\",\"content\":\"Hello from pushmesh\",
  \"payload\":\"{\\\"conversation\\\":\\\"alice:bob\\\"}\",\"resources_id\":\"chat\"}}"

for _ in $(seq 1 100); do
  received=$(curl -fs http://127.0.0.1:9200/sim/fcm/messages)
  if grep -q "$token" <<<"$received"; then
    echo "vendor-sim received this FCM request:"
    python3 -c 'import json,sys; t=sys.argv[1]; m=[x for x in json.load(sys.stdin)["messages"] if t in x["tokens"]]; print(json.dumps(m[-1], indent=2, ensure_ascii=False))' "$token" <<<"$received"
    break
  fi
  sleep 0.1
done
grep -q "$token" <<<"$received" || { echo "no push arrived: see .run/logs"; exit 1; }

if [ "${1:-}" = "--exit" ]; then exit 0; fi
echo "console: http://127.0.0.1:9103/console (log in with the key in fixtures/demo-api-keys)"
echo "the mesh is running (logs in .run/logs); Ctrl-C stops it"
wait
