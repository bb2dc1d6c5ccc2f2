# shellcheck shell=bash
# ci/lib.sh: what the ci/ scripts share, sourced (never run):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"      # from a script in ci/
#
# - as_root CMD...            run CMD as root (directly when root, else through sudo)
# - apt_install PKG...        apt-get update + install (non-interactive, no recommends), as root
# - ci_target_dir             the cargo target dir ($CARGO_TARGET_DIR or <repo>/target)
# - ci_build                  the one cargo build every script uses (see below)
# - free_port                 a free 127.0.0.1 TCP port *below* the kernel's ephemeral range
#                             (/proc/sys/net/ipv4/ip_local_port_range), so no outgoing connection can
#                             be handed it between the pick and the bind; bind-tested before use
# - free_ports N              N distinct free ports (free_port N times), space-separated
# - mk_spawn LOG ARGS...      start the minikafka binary ($MINIKAFKA_BIN, default the debug build in
#                             the target dir) with ARGS, stdout+stderr appended to LOG; sets mk_pid
# - mk_wait_started LOG [SECS]  wait (bounded, default 30 s) for "minikafka started, listening on
#                             HOST:PORT" in LOG; sets mk_bootstrap; on failure prints LOG's tail
# - mk_start LOG ARGS...      mk_spawn + mk_wait_started: the usual "start it, scrape its port"
# - mk_stop                   SIGTERM the broker of mk_pid (it flushes its logs), SIGKILL after 30 s
#
# One broker at a time per script (mk_pid, mk_bootstrap are globals). Redirections given to
# mk_start/mk_spawn apply to the broker too (e.g. `mk_start LOG ARGS 7>&-` keeps a fifo's write
# end out of it). Every wait is bounded.

ci_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

apt_install() {
    echo "installing (apt): $*"
    as_root timeout 600 apt-get update \
        && as_root timeout 900 env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

ci_target_dir() {
    echo "${CARGO_TARGET_DIR:-$ci_root/target}"
}

# cargo build --workspace --all-targets: the feature set of `cargo test --workspace` and of clippy.
# `cargo build -p X` resolves features for X alone (e.g. `-p compat-tests` builds zstd-sys without
# `std`, which rebuilds rdkafka-sys, the bundled librdkafka, a second time; `-p minikafka` leaves out
# the dev-dependencies' kafka-protocol `client` feature, which rebuilds kafka-protocol and the
# broker), so one build command for every script means each crate is compiled once per run for
# build and test. `cargo clippy` (check mode) shares the C crates' build scripts, and so the
# compiled librdkafka, with them too, thanks to `[profile.dev.build-override]` in Cargo.toml
# (without it libc, both a normal and a build dependency, is unified with the normal one only in
# build mode, so every build script hashed differently under clippy).
ci_build() {
    (cd "$ci_root" && cargo build --workspace --all-targets "$@")
}

# True when nothing listens on 127.0.0.1:PORT and a socket can be bound to it now.
port_is_free() {
    local p="$1"
    if command -v ss >/dev/null 2>&1 && ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
        return 1
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 1
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()' "$p" 2>/dev/null || return 1
    fi
    return 0
}

free_port() {
    local lo=10000 hi eph_start i p
    eph_start="$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)"
    hi="${eph_start:-32768}"
    [ "$hi" -gt $((lo + 1000)) ] || { lo=1024; }
    for i in $(seq 1 200); do
        p=$((lo + RANDOM % (hi - lo)))
        if port_is_free "$p"; then
            echo "$p"
            return 0
        fi
    done
    echo "free_port: no free port in $lo..$((hi - 1)) after 200 tries" >&2
    return 1
}

free_ports() {
    local n="$1" ports=() p i
    for i in $(seq 1 "$n"); do
        for _ in $(seq 1 50); do
            p="$(free_port)" || return 1
            case " ${ports[*]} " in *" $p "*) continue ;; esac
            ports+=("$p")
            break
        done
        [ "${#ports[@]}" -eq "$i" ] || { echo "free_ports: no $n distinct free ports" >&2; return 1; }
    done
    echo "${ports[*]}"
}

mk_pid=""
mk_bootstrap=""
mk_log_lines=0 # lines LOG had when mk_spawn started the broker: older "started" lines do not count

mk_spawn() {
    local log="$1"
    shift
    local bin="${MINIKAFKA_BIN:-$(ci_target_dir)/debug/minikafka}"
    [ -x "$bin" ] || { echo "no minikafka binary at $bin (cargo build -p minikafka)" >&2; return 1; }
    mk_log_lines="$(cat "$log" 2>/dev/null | wc -l)"
    "$bin" "$@" >>"$log" 2>&1 </dev/null &
    mk_pid=$!
}

mk_wait_started() {
    local log="$1" secs="${2:-30}"
    local deadline=$((SECONDS + secs))
    mk_bootstrap=""
    while :; do
        mk_bootstrap="$(tail -n "+$((mk_log_lines + 1))" "$log" 2>/dev/null \
            | sed -n 's/.*minikafka started, listening on \([0-9.]*:[0-9]*\).*/\1/p' | head -n 1)"
        [ -n "$mk_bootstrap" ] && return 0
        if ! kill -0 "$mk_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            echo "minikafka (pid $mk_pid) did not start within $secs s; the last lines of $log:" >&2
            tail -n 50 "$log" >&2
            return 1
        fi
        sleep 0.1
    done
}

mk_start() {
    local log="$1"
    shift
    mk_spawn "$log" "$@" && mk_wait_started "$log"
}

mk_stop() {
    [ -n "$mk_pid" ] || return 0
    if kill -0 "$mk_pid" 2>/dev/null; then
        kill -TERM "$mk_pid" 2>/dev/null || true
        local i
        for i in $(seq 1 60); do
            kill -0 "$mk_pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$mk_pid" 2>/dev/null; then
            echo "minikafka (pid $mk_pid) still running 30 s after SIGTERM, SIGKILL" >&2
            kill -KILL "$mk_pid" 2>/dev/null || true
        fi
    fi
    wait "$mk_pid" 2>/dev/null || true
    mk_pid=""
}
