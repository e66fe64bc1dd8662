# Throwaway Redis and PostgreSQL servers for the storage tests, on free loopback ports.
#
# Source this file, then call `install_services` (as root: apt-installs what is missing),
# `start_services` (exports BOT_SESSION_REDIS_URL and BOT_SESSION_POSTGRES_URL, and for the
# PostgreSQL deployments BOT_SESSION_POSTGRES_TLS_URL, BOT_SESSION_POSTGRES_TLS_CA and
# BOT_SESSION_PGBOUNCER_URL) and `stop_services` (also safe to call when nothing was started;
# put it in an EXIT trap).
# Used by .ci/run and scripts/with-services.

SERVICES_DIR=""
SERVICES_PG_BIN=""
SERVICES_PG_USER=""
SERVICES_REDIS_PID=""
SERVICES_PGBOUNCER_PID=""

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

# A TCP port on 127.0.0.1 that nothing listens on.
services_free_port() {
    local port tries
    for tries in $(seq 1 200); do
        port=$((20000 + RANDOM % 40000))
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
