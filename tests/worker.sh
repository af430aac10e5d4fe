# A private `eai run` for the checks that drive a running worker from
# outside (schemathesis, the browser tests): its own database, topology
# prefix and port, removed again by `worker_stop`. Source this file, then:
#   worker_start NAME TOKENS    # sets WORKER_URL; target/debug/eai must be built
#   worker_eai ARGS...          # an eai command against the same worker
#   worker_stop
# Needs PostgreSQL (127.0.0.1:5432, trust) and RabbitMQ (127.0.0.1:5672).

worker_env() {
    echo "EAI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$WORKER_NAME"
    echo "EAI_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f"
    echo "EAI_AMQP_TOPOLOGY_PREFIX=$WORKER_NAME"
    echo "EAI_AMQP_QUEUE_TYPE=classic"
    echo "EAI_HTTP_ADDR=127.0.0.1:$WORKER_PORT"
    echo "EAI_API_TOKENS=$WORKER_TOKENS"
}

worker_eai() {
    env $(worker_env) target/debug/eai "$@"
}

worker_start() {
    WORKER_NAME=$1
    WORKER_TOKENS=$2
    WORKER_PORT=$((20000 + RANDOM % 20000))
    WORKER_LOG=$(mktemp)
    WORKER_URL="http://127.0.0.1:$WORKER_PORT"
    env $(worker_env) target/debug/eai run >"$WORKER_LOG" 2>&1 &
    WORKER_PID=$!
    for _ in $(seq 60); do
        curl -sf "$WORKER_URL/readyz" >/dev/null 2>&1 && return 0
        sleep 1
    done
    cat "$WORKER_LOG"
    return 1
}

worker_stop() {
    [ -n "${WORKER_PID:-}" ] || return 0
    kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $WORKER_NAME" postgres >/dev/null 2>&1
    for queue in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^$WORKER_NAME\."); do
        rabbitmqctl -q delete_queue "$queue" >/dev/null 2>&1
    done
    for exchange in $(rabbitmqctl -q list_exchanges name 2>/dev/null | grep "^$WORKER_NAME\."); do
        rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$exchange\">>), false, <<\"tests\">>)." >/dev/null 2>&1
    done
    rm -f "$WORKER_LOG"
    WORKER_PID=
}
