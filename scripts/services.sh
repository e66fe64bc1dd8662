# Throwaway Redis and PostgreSQL servers for the storage tests, on free loopback ports.
#
# Source this file, then call `install_services` (as root: apt-installs what is missing),
# `start_services` (exports BOT_SESSION_REDIS_URL and BOT_SESSION_POSTGRES_URL, and for the
# Redis deployments BOT_SESSION_REDIS_TLS_URL, BOT_SESSION_REDIS_TLS_CA and
# BOT_SESSION_REDIS_CLUSTER_URLS; PostgreSQL deployments BOT_SESSION_POSTGRES_TLS_URL,
# BOT_SESSION_POSTGRES_TLS_CA and BOT_SESSION_PGBOUNCER_URL) and `stop_services` (also safe to
# call when nothing was started; put it in an EXIT trap).
# Used by .ci/run and scripts/with-services.

SERVICES_DIR=""
SERVICES_PG_BIN=""
SERVICES_PG_USER=""
SERVICES_REDIS_PID=""
SERVICES_PGBOUNCER_PID=""
# The TLS server and the cluster's nodes (see start_redis_deployments).
SERVICES_REDIS_DEPLOYMENT_PIDS=()

services_log() { printf '[services] %s\n' "$*" >&2; }

# The directory with initdb and pg_ctl: Debian keeps them off PATH, under the version's lib dir.
services_find_pg_bin() {
    local initdb
    initdb=$(dpkg -L postgresql-15 2>/dev/null | grep '/bin/initdb$' | head -n1 || true)
    if [[ -z "$initdb" ]]; then
        initdb=$(command -v initdb 2>/dev/null || true)
    fi
    [[ -n "$initdb" && -x "$initdb" ]] || return 1
    dirname "$(readlink -f "$initdb")"
}

install_services() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    # redis-cli (in redis-tools, which redis-server depends on) builds the cluster; the
    # openssl CLI makes the TLS server's throwaway certificates.
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    services_find_pg_bin >/dev/null || missing+=(postgresql-15)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
    # PostgreSQL as people deploy it: TLS with throwaway certificates (the openssl CLI), and
    # PgBouncer in front of it.
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        services_log "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
        return 1
    fi
    services_log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the package lists when the install cannot find the packages without it.
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# A TCP port on 127.0.0.1 that nothing listens on, below Linux's ephemeral range (32768 and
# up): a port that outgoing connections (the Redis cluster bus has dozens) use as their local
# end accepts no connection, so it looks free, yet a server cannot bind it.
services_free_port() {
    local port tries
    for tries in $(seq 1 200); do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    services_log "no free port found"
    return 1
}

# Waits until something accepts connections on 127.0.0.1:$1.
services_wait_port() {
    local port=$1 what=$2 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    services_log "$what did not start listening on port $port"
    return 1
}

# --- Redis as people deploy it: over TLS, and as a cluster ---------------------------------

# $1 free ports on 127.0.0.1, all different, one a line. Ports are only probed, not held, so
# ports picked one at a time for servers started together could repeat.
services_redis_free_ports() {
    local count=$1 port ports=" "
    while (($(wc -w <<<"$ports") < count)); do
        port=$(services_free_port) || return 1
        [[ "$ports" == *" $port "* ]] || ports+="$port "
    done
    tr ' ' '\n' <<<"${ports# }" | sed '/^$/d'
}

# Throwaway certificates in $1: a CA (ca.crt), and a server certificate it signed for
# 127.0.0.1 and localhost (server.crt, server.key).
services_redis_certificates() {
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bot-session test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 || return 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1
}

# redis-server with its options, no persistence, loopback only, its log in $1/redis.log;
# records the pid for stop_redis_deployments.
services_redis_spawn() {
    local dir=$1
    shift
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize no "$@" &
    SERVICES_REDIS_DEPLOYMENT_PIDS+=($!)
}

# A Redis that only speaks TLS (`--port 0`), with a certificate from a throwaway CA: exports
# BOT_SESSION_REDIS_TLS_URL and BOT_SESSION_REDIS_TLS_CA (the CA's PEM file).
start_redis_tls() {
    local dir="$SERVICES_DIR/redis-tls" port
    mkdir -p "$dir"
    services_redis_certificates "$dir" || {
        services_log "openssl could not make the TLS test certificates"
        return 1
    }
    port=$(services_free_port) || return 1
    services_redis_spawn "$dir" --port 0 --tls-port "$port" \
        --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" \
        --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no
    services_wait_port "$port" "redis-server (TLS)" || {
        cat "$dir/redis.log" >&2 || true
        return 1
    }
    export BOT_SESSION_REDIS_TLS_URL="rediss://127.0.0.1:$port/0"
    export BOT_SESSION_REDIS_TLS_CA="$dir/ca.crt"
    services_log "redis-server over TLS on $BOT_SESSION_REDIS_TLS_URL (CA $BOT_SESSION_REDIS_TLS_CA)"
}

# A Redis Cluster of 3 masters with a replica each: exports BOT_SESSION_REDIS_CLUSTER_URLS
# (the six nodes, comma-separated) once every node reports cluster_state:ok.
start_redis_cluster() {
    local ports bus_ports i nodes=() urls=()
    mapfile -t ports < <(services_redis_free_ports 12) || return 1
    for i in 0 1 2 3 4 5; do
        # The cluster bus gets a port of its own: the default, port + 10000, may be taken or
        # past 65535.
        services_redis_spawn "$SERVICES_DIR/redis-cluster/${ports[i]}" --port "${ports[i]}" \
            --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-port "${ports[i + 6]}" --cluster-node-timeout 5000
        nodes+=("127.0.0.1:${ports[i]}")
        urls+=("redis://127.0.0.1:${ports[i]}")
    done
    for i in 0 1 2 3 4 5; do
        services_wait_port "${ports[i]}" "redis-server (cluster node)" || {
            cat "$SERVICES_DIR/redis-cluster/${ports[i]}/redis.log" >&2 || true
            return 1
        }
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes \
        >"$SERVICES_DIR/redis-cluster/create.log" 2>&1 || {
        cat "$SERVICES_DIR/redis-cluster/create.log" >&2
        return 1
    }
    local ok deadline=$((SECONDS + 60))
    while :; do
        ok=0
        for i in 0 1 2 3 4 5; do
            redis-cli -p "${ports[i]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' &&
                ok=$((ok + 1))
        done
        ((ok == 6)) && break
        if ((SECONDS >= deadline)); then
            services_log "the Redis cluster did not reach cluster_state:ok within 60 s"
            redis-cli -p "${ports[0]}" cluster nodes >&2 || true
            return 1
        fi
        sleep 0.2
    done
    export BOT_SESSION_REDIS_CLUSTER_URLS
    BOT_SESSION_REDIS_CLUSTER_URLS=$(IFS=,; echo "${urls[*]}")
    services_log "redis cluster (3 masters, 3 replicas) on $BOT_SESSION_REDIS_CLUSTER_URLS"
}

start_redis_deployments() {
    start_redis_tls || return 1
    start_redis_cluster || return 1
}

stop_redis_deployments() {
    local pid
    for pid in "${SERVICES_REDIS_DEPLOYMENT_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVICES_REDIS_DEPLOYMENT_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SERVICES_REDIS_DEPLOYMENT_PIDS=()
}

# Runs a PostgreSQL program as the unprivileged owner of the data directory.
services_as_pg() {
    if [[ -n "$SERVICES_PG_USER" ]]; then
        runuser -u "$SERVICES_PG_USER" -- "$@"
    else
        "$@"
    fi
}

# --- PostgreSQL as people deploy it: over TLS, and behind PgBouncer --------------------------

# Throwaway certificates in $1: a CA (ca.crt), and a server certificate it signed for
# 127.0.0.1 and localhost (server.crt, server.key).
services_pg_certificates() {
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bot-session PostgreSQL test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1 || return 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1
}

# The server options that turn TLS on with the certificates of services_pg_certificates in
# $1 (plain connections are still accepted).
services_pg_tls_options() {
    printf '%s' "-c ssl=on -c ssl_cert_file=$1/server.crt -c ssl_key_file=$1/server.key"
}

# PgBouncer in transaction mode in front of the PostgreSQL on port $1, with user bot/bot (md5);
# exports BOT_SESSION_PGBOUNCER_URL.
start_pgbouncer() {
    local pg_port=$1 port dir="$SERVICES_DIR/pgbouncer" bin
    bin=$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)
    port=$(services_free_port) || return 1
    mkdir -p "$dir"
    # md5 of the password followed by the user name, as PostgreSQL's md5 authentication has it.
    printf '"bot" "md5%s"\n' "$(printf '%s' botbot | md5sum | cut -d' ' -f1)" >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
bot_session = host=127.0.0.1 port=$pg_port dbname=bot_session
; Two server connections, for tests that need to know which one a statement reaches
; (tests/postgres_pgbouncer.rs).
bot_session_two_servers = host=127.0.0.1 port=$pg_port dbname=bot_session pool_size=2
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = md5
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    [[ -z "$SERVICES_PG_USER" ]] || chown -R "$SERVICES_PG_USER" "$dir"
    # PgBouncer refuses to run as root: -u switches to the data directory's owner.
    if [[ -n "$SERVICES_PG_USER" ]]; then
        "$bin" -u "$SERVICES_PG_USER" "$dir/pgbouncer.ini" >/dev/null 2>&1 &
    else
        "$bin" "$dir/pgbouncer.ini" >/dev/null 2>&1 &
    fi
    SERVICES_PGBOUNCER_PID=$!
    services_wait_port "$port" pgbouncer || {
        cat "$dir/pgbouncer.log" >&2 || true
        return 1
    }
    export BOT_SESSION_PGBOUNCER_URL="postgres://bot:bot@127.0.0.1:$port/bot_session"
    services_log "pgbouncer (pid $SERVICES_PGBOUNCER_PID, pool_mode=transaction) on $BOT_SESSION_PGBOUNCER_URL"
}

stop_pgbouncer() {
    if [[ -n "$SERVICES_PGBOUNCER_PID" ]]; then
        kill "$SERVICES_PGBOUNCER_PID" 2>/dev/null || true
        wait "$SERVICES_PGBOUNCER_PID" 2>/dev/null || true
        SERVICES_PGBOUNCER_PID=""
    fi
}

start_services() {
    SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bot-session-services.XXXXXX")
    chmod 755 "$SERVICES_DIR"

    # Redis: no persistence, loopback only.
    local redis_port
    redis_port=$(services_free_port)
    mkdir -p "$SERVICES_DIR/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
        --dir "$SERVICES_DIR/redis" --logfile "$SERVICES_DIR/redis/redis.log" \
        --daemonize no &
    SERVICES_REDIS_PID=$!
    services_wait_port "$redis_port" redis-server || {
        cat "$SERVICES_DIR/redis/redis.log" >&2 || true
        return 1
    }
    export BOT_SESSION_REDIS_URL="redis://127.0.0.1:$redis_port/0"
    services_log "redis-server (pid $SERVICES_REDIS_PID) on $BOT_SESSION_REDIS_URL"
    start_redis_deployments || return 1

    # PostgreSQL refuses to run as root: as root, run it as the `postgres` system user that
    # Debian's package creates.
    SERVICES_PG_BIN=$(services_find_pg_bin) || {
        services_log "initdb not found (is postgresql-15 installed?)"
        return 1
    }
    if [[ $(id -u) -eq 0 ]]; then
        SERVICES_PG_USER=postgres
        id -u "$SERVICES_PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$SERVICES_PG_USER"
    fi
    local pg_port pg_data="$SERVICES_DIR/pg"
    pg_port=$(services_free_port)
    mkdir -p "$pg_data"
    [[ -z "$SERVICES_PG_USER" ]] || chown "$SERVICES_PG_USER" "$pg_data"
    chmod 700 "$pg_data"
    local pg_tls="$SERVICES_DIR/pg-tls"
    mkdir -p "$pg_tls"
    services_pg_certificates "$pg_tls" || {
        services_log "could not make the PostgreSQL test certificates (is openssl installed?)"
        return 1
    }
    # The server reads its key as its own user and only from a file no one else may read.
    chmod 600 "$pg_tls/server.key"
    [[ -z "$SERVICES_PG_USER" ]] || chown "$SERVICES_PG_USER" "$pg_tls/server.key" "$pg_tls/server.crt"
    services_as_pg "$SERVICES_PG_BIN/initdb" -D "$pg_data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$SERVICES_DIR/initdb.log" 2>&1 || {
        cat "$SERVICES_DIR/initdb.log" >&2
        return 1
    }
    # Throwaway data: durability settings off, for speed.
    services_as_pg "$SERVICES_PG_BIN/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_data -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
            $(services_pg_tls_options "$pg_tls")" \
        start >/dev/null || {
        cat "$pg_data/server.log" >&2 || true
        return 1
    }
    psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
        -c "CREATE ROLE bot LOGIN PASSWORD 'bot'" \
        -c "CREATE DATABASE bot_session OWNER bot" >/dev/null
    export BOT_SESSION_POSTGRES_URL="postgres://bot:bot@127.0.0.1:$pg_port/bot_session"
    services_log "postgres on $BOT_SESSION_POSTGRES_URL"
    export BOT_SESSION_POSTGRES_TLS_URL="$BOT_SESSION_POSTGRES_URL?sslmode=verify-full"
    export BOT_SESSION_POSTGRES_TLS_CA="$pg_tls/ca.crt"
    services_log "postgres over TLS on $BOT_SESSION_POSTGRES_TLS_URL (CA $BOT_SESSION_POSTGRES_TLS_CA)"
    start_pgbouncer "$pg_port" || return 1
}

stop_services() {
    stop_pgbouncer
    stop_redis_deployments
    if [[ -n "$SERVICES_REDIS_PID" ]]; then
        kill "$SERVICES_REDIS_PID" 2>/dev/null || true
        wait "$SERVICES_REDIS_PID" 2>/dev/null || true
        SERVICES_REDIS_PID=""
    fi
    if [[ -n "$SERVICES_DIR" && -n "$SERVICES_PG_BIN" && -f "$SERVICES_DIR/pg/postmaster.pid" ]]; then
        services_as_pg "$SERVICES_PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg" -m immediate -w stop \
            >/dev/null 2>&1 || true
    fi
    if [[ -n "$SERVICES_DIR" ]]; then
        rm -rf "$SERVICES_DIR"
        SERVICES_DIR=""
    fi
}
