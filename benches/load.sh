#!/usr/bin/env bash
# Over-the-wire benchmark of tower-oidc-login against a bare axum app and axum-oidc.
# `ours` adds the layer with `Router::layer` (as the README shows); `ours_outer` wraps the
# whole router in it instead (same binary, OURS_WRAP=outer).
#
#   bash benches/load.sh
#   ROUNDS=1 DURATION=1 LOGINS=20 SESSIONS=1000 bash benches/load.sh    # a quick check of the script
#
# Builds benches/apps (its own cargo project and target dir, release profile), starts the
# development OpenID provider and the three apps on 127.0.0.1, logs in once to each
# (ours: DevProvider::login_as; axum-oidc: its login redirect → the provider's sign-in form
# → its callback), then drives each app with wrk on the logged-in route (the session
# cookie) and the anonymous route (no cookie), alternating apps in rounds so drift hits
# all of them, and prints the throughput ratios. Then the paired runs (each app of ours and
# the bare app of the same tokio runtime loaded at the same moment on the same core, with
# the same Cookie header) for every session store x runtime: the in-memory store, Redis
# (a redis-server this script starts on 127.0.0.1 and stops by PID) and SQLite (a file in
# the script's temporary directory), each in tokio's multi-thread runtime with one worker
# and in its current-thread runtime, ending with a table store x runtime x route of the
# median paired ratios. Then: memory per session in the in-memory store (100,000
# sessions) and login throughput with the CPU time each process spent per login.
#
# The apps (one binary, benches/apps/src/bin/ours.rs): `bare` and `bare_ct` (no layer;
# multi-thread and current-thread), the floors `identity`/`identity_ct` (a do-nothing layer
# through `Router::layer`) and `extension`/`extension_ct` (axum's `Extension` layer handing
# each request an anonymous `User`), `ours`/`ours_ct` (in-memory store), `ours_redis`/
# `ours_redis_ct`, `ours_sqlite`/`ours_sqlite_ct`, `ours_outer`; plus `axum_oidc`. The
# store is named in the app's configuration (`session_store`), as a user would.
#
# Knobs (environment): ROUNDS=3 DURATION=5 (s per wrk run) CONNECTIONS=16 LOGINS=400
# LOGIN_CONCURRENCY=4 SESSIONS=100000 MAX_SECONDS=900 PAUSE=1 (s between wrk runs) (every process started here exits
# by itself after that; the script also stops each one by PID when it ends);
# STORES="memory redis sqlite" and RUNTIMES="multi_thread current_thread" (the paired
# store x runtime matrix; fewer entries, a shorter run: ROUNDS x pairs x 2 routes x
# DURATION). Redis needs redis-server (installed with apt-get when missing).
#
# CPU layout on a 2-core machine: the app under load gets core 0 and one tokio worker;
# wrk, the provider (idle during wrk runs), Redis and the login client share core 1.
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
LOGINS=${LOGINS:-400}
LOGIN_CONCURRENCY=${LOGIN_CONCURRENCY:-4}
SESSIONS=${SESSIONS:-100000}
MAX_SECONDS=${MAX_SECONDS:-900}
PAUSE=${PAUSE:-1}
STORES=${STORES:-memory redis sqlite}
RUNTIMES=${RUNTIMES:-multi_thread current_thread}
for store in $STORES; do
    case $store in memory | redis | sqlite) ;; *) echo "STORES: unknown store $store (memory, redis, sqlite)" >&2; exit 2 ;; esac
done
for rt in $RUNTIMES; do
    case $rt in multi_thread | current_thread) ;; *) echo "RUNTIMES: unknown runtime $rt (multi_thread, current_thread)" >&2; exit 2 ;; esac
done

BENCH_DIR=$(mktemp -d /tmp/oidc-bench.XXXXXX)
export BENCH_DIR BENCH_MAX_SECONDS=$MAX_SECONDS
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null; then
    echo "installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if [[ " $STORES " == *" redis "* ]] && ! command -v redis-server >/dev/null; then
    echo "installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

cargo build --release --manifest-path apps/Cargo.toml --target-dir apps/target --bins
BIN=apps/target/release
RESULTS=apps/target/load-results.txt

if [ "$(nproc)" -ge 2 ]; then APP_CPU=0; LOAD_CPU=1; else APP_CPU=0; LOAD_CPU=0; fi

# start NAME CPU COMMAND...: runs COMMAND pinned to CPU with one tokio worker, logs to
# $BENCH_DIR/NAME.log, records its PID in PID_NAME.
start() {
    local name=$1 cpu=$2
    shift 2
    env TOKIO_WORKER_THREADS=1 taskset -c "$cpu" "$@" >"$BENCH_DIR/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}

wait_file() {
    for _ in $(seq 1 1200); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    cat "$BENCH_DIR"/*.log >&2 || true
    exit 1
}

# The store x runtime matrix of the paired runs: our app for each, and the bare app of
# each runtime. `ours` (memory, multi-thread) and `bare` are also the apps of the
# alternating runs.
variant() { # STORE RUNTIME -> app name
    local name=ours
    [ "$1" != memory ] && name="${name}_$1"
    [ "$2" = current_thread ] && name="${name}_ct"
    echo "$name"
}
bare_of() { [ "$1" = current_thread ] && echo bare_ct || echo bare; }
runtime_of() { [[ "$1" == *_ct ]] && echo current_thread || echo multi_thread; }
MATRIX_APPS=()
for store in $STORES; do
    for rt in $RUNTIMES; do
        app=$(variant "$store" "$rt")
        [ "$app" = ours ] || MATRIX_APPS+=("$app")
    done
done
OUR_APPS=(ours ours_outer "${MATRIX_APPS[@]}")
BARE_APPS=(bare)
[[ " $RUNTIMES " == *" current_thread "* ]] && BARE_APPS+=(bare_ct)
# The floors, paired with bare like ours: the bare app plus a layer that does nothing
# (`identity`: axum's own price for any `Router::layer`) and plus axum's `Extension` layer
# handing every request an anonymous `User` (`extension`: the least a layer that gives
# handlers a user costs). Same binary, same handler, `Router::layer`.
FLOOR_APPS=()
for rt in $RUNTIMES; do
    sfx=$([ "$rt" = current_thread ] && echo _ct || true)
    FLOOR_APPS+=("identity$sfx" "extension$sfx")
done

free_port() { # a port nothing listens on at 127.0.0.1, a moment ago
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

REDIS_URL=""
if [[ " $STORES " == *" redis "* ]]; then
    # On the load CPU with wrk and the provider, as a Redis on another machine would be off
    # the app's CPU; no snapshots, no append-only file: nothing is written to disk.
    REDIS_PORT=$(free_port)
    mkdir -p "$BENCH_DIR/redis"
    start redis "$LOAD_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$BENCH_DIR/redis" \
        --save "" --appendonly no --daemonize no --logfile ""
    for _ in $(seq 1 100); do
        grep -q "Ready to accept connections" "$BENCH_DIR/redis.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "Ready to accept connections" "$BENCH_DIR/redis.log" || { cat "$BENCH_DIR/redis.log" >&2; exit 1; }
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi
store_of() { # APP -> its session_store
    case $1 in
        ours_redis*) echo "$REDIS_URL" ;;
        ours_sqlite*) echo "sqlite://$BENCH_DIR/sessions-$1.db" ;;
        *) echo memory ;;
    esac
}

start provider "$LOAD_CPU" env BENCH_LOGIN="${OUR_APPS[*]} axum_oidc" "$BIN/provider"
wait_file "$BENCH_DIR/issuer"
# The bare apps are the same binary without the layer (OURS_WRAP=none).
for app in "${BARE_APPS[@]}"; do
    start "$app" "$APP_CPU" env OURS_WRAP=none BENCH_APP_NAME="$app" OURS_RUNTIME="$(runtime_of "$app")" "$BIN/ours"
done
for app in "${FLOOR_APPS[@]}"; do
    start "$app" "$APP_CPU" env OURS_WRAP="${app%_ct}" BENCH_APP_NAME="$app" OURS_RUNTIME="$(runtime_of "$app")" "$BIN/ours"
done
start ours "$APP_CPU" "$BIN/ours"
start ours_outer "$APP_CPU" env BENCH_APP_NAME=ours_outer OURS_WRAP=outer "$BIN/ours"
for app in "${MATRIX_APPS[@]}"; do
    start "$app" "$APP_CPU" env BENCH_APP_NAME="$app" OURS_RUNTIME="$(runtime_of "$app")" \
        OURS_STORE="$(store_of "$app")" "$BIN/ours"
done
start axum_oidc "$APP_CPU" "$BIN/axum_oidc"
for app in "${BARE_APPS[@]}" "${FLOOR_APPS[@]}" "${OUR_APPS[@]}" axum_oidc; do wait_file "$BENCH_DIR/$app.port"; done
for app in "${OUR_APPS[@]}" axum_oidc; do wait_file "$BENCH_DIR/$app.cookie"; done

port() { cat "$BENCH_DIR/$1.port"; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"; }
# The bare apps get our cookie on their "logged-in" route: same request, nothing reads it
# (in the paired runs, the cookie of the app they are paired with).
cookie_for() {
    case $1 in
        bare* | identity* | extension*) cat "$BENCH_DIR/ours.cookie" ;;
        *) cat "$BENCH_DIR/$1.cookie" ;;
    esac
}

# Each app answers what it should before anything is measured.
for app in "${BARE_APPS[@]}" "${FLOOR_APPS[@]}" "${OUR_APPS[@]}" axum_oidc; do
    want=$([[ "$app" == bare* || "$app" == identity* || "$app" == extension* ]] && echo "hello anonymous" || echo "hello Adele Vance")
    got=$(curl -sf -H "Cookie: $(cookie_for "$app")" "http://127.0.0.1:$(port "$app")/")
    [ "$got" = "$want" ] || { echo "$app logged-in route answered '$got'" >&2; exit 1; }
    got=$(curl -sf "http://127.0.0.1:$(port "$app")/")
    [ "$got" = "hello anonymous" ] || { echo "$app anonymous route answered '$got'" >&2; exit 1; }
done

echo "# wrk: $ROUNDS rounds x ${DURATION}s, $CONNECTIONS connections, 1 wrk thread on cpu $LOAD_CPU, app on cpu $APP_CPU" | tee "$RESULTS"
RAW="$BENCH_DIR/raw.txt"
: >"$RAW"
APPS=(bare ours ours_outer axum_oidc)
for round in $(seq 1 "$ROUNDS"); do
    # Rotate the order every round, so no app always runs first or right after another.
    shift_by=$(( (round - 1) % ${#APPS[@]} ))
    order=("${APPS[@]:shift_by}" "${APPS[@]:0:shift_by}")
    for app in "${order[@]}"; do
        for route in logged_in anonymous; do
            pid_var="PID_$app"
            c0=$(cpu_s "${!pid_var}")
            if [ "$route" = logged_in ]; then
                out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
                    -H "Cookie: $(cookie_for "$app")" "http://127.0.0.1:$(port "$app")/")
            else
                out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
                    "http://127.0.0.1:$(port "$app")/")
            fi
            if grep -q "Non-2xx" <<<"$out"; then
                echo "$app $route: error responses under load:" >&2
                echo "$out" >&2
                exit 1
            fi
            c1=$(cpu_s "${!pid_var}")
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
            requests=$(awk '/requests in/ {print $1}' <<<"$out")
            p50=$(awk '/^ +Latency/ {print $2}' <<<"$out")
            # CPU time the app spent per request (user + system, steal time excluded): less
            # sensitive than throughput to a noisy host.
            cpu_us=$(awk -v a="$c0" -v b="$c1" -v n="$requests" 'BEGIN { printf "%.3f", (b - a) * 1e6 / n }')
            echo "round=$round app=$app route=$route rps=$rps latency_avg=$p50 cpu_us_per_request=$cpu_us" | tee -a "$RESULTS"
            echo "$round $app $route $rps $cpu_us" >>"$RAW"
            sleep "$PAUSE"
        done
    done
done

echo "# mean requests/s over rounds, and ratios (min..max of the per-round ratios)" | tee -a "$RESULTS"
awk '
{ rps[$2" "$3] += $4; n[$2" "$3]++; r[$1" "$2" "$3] = $4; if ($1 > rounds) rounds = $1 }
END {
    split("logged_in anonymous", routes, " ")
    for (i = 1; i <= 2; i++) {
        rt = routes[i]
        for (a in n) { }
        printf "%-10s bare=%.0f ours=%.0f ours_outer=%.0f axum_oidc=%.0f\n", rt, rps["bare " rt]/n["bare " rt], rps["ours " rt]/n["ours " rt], rps["ours_outer " rt]/n["ours_outer " rt], rps["axum_oidc " rt]/n["axum_oidc " rt]
        split("ours/bare ours_outer/bare axum_oidc/bare ours/axum_oidc", pairs, " ")
        for (p = 1; p <= 4; p++) {
            split(pairs[p], ab, "/")
            mean = (rps[ab[1] " " rt]/n[ab[1] " " rt]) / (rps[ab[2] " " rt]/n[ab[2] " " rt])
            lo = 1e9; hi = 0
            for (k = 1; k <= rounds; k++) {
                q = r[k " " ab[1] " " rt] / r[k " " ab[2] " " rt]
                if (q < lo) lo = q; if (q > hi) hi = q
            }
            printf "  %-10s %-16s %.3f (%.3f..%.3f)\n", rt, pairs[p], mean, lo, hi
        }
    }
}' "$RAW" | tee -a "$RESULTS"

# median_ratio COLUMN APP ROUTE: the median over rounds of APP's figure / bare's (column 4,
# requests/s) or bare's / APP's (column 5, CPU µs per request), and the sorted list.
median_ratio() {
    local ratios n
    ratios=$(awk -v col="$1" -v app="$2" -v rt="$3" '
        $3 == rt && $2 == "bare" { b[$1] = $col }
        $3 == rt && $2 == app { o[$1] = $col }
        END { for (k in b) if (k in o && o[k] > 0 && b[k] > 0) print (col == 4 ? o[k] / b[k] : b[k] / o[k]) }' "$RAW" | sort -g)
    n=$(wc -l <<<"$ratios")
    awk -v n="$n" 'NR == int((n + 1) / 2) { a = $1 } NR == int(n / 2) + 1 { b = $1 } END { printf "%.3f", (a + b) / 2 }' <<<"$ratios"
    printf ' (per round: %s)' "$(awk '{ printf "%.3f ", $1 }' <<<"$ratios")"
}

echo "# median over rounds of the per-round throughput ratio (robust to a round the host disturbed)" | tee -a "$RESULTS"
for rt in logged_in anonymous; do
    for app in ours ours_outer axum_oidc; do
        echo "  $rt $app/bare rps_ratio_median=$(median_ratio 4 "$app" "$rt")" | tee -a "$RESULTS"
    done
done

echo "# the same ratios from the app's CPU time per request (bare's CPU per request / the app's;" | tee -a "$RESULTS"
echo "# what throughput would be if the host gave every run the same CPU): median of the rounds" | tee -a "$RESULTS"
for rt in logged_in anonymous; do
    for app in ours ours_outer axum_oidc; do
        median=$(median_ratio 5 "$app" "$rt")
        bare_us=$(awk -v rt="$rt" '$3 == rt && $2 == "bare" { s += $5; c++ } END { printf "%.2f", s / c }' "$RAW")
        app_us=$(awk -v app="$app" -v rt="$rt" '$3 == rt && $2 == app { s += $5; c++ } END { printf "%.2f", s / c }' "$RAW")
        echo "  $rt $app/bare cpu_ratio_median=$median; mean CPU: bare ${bare_us} us/request, $app ${app_us} us/request" | tee -a "$RESULTS"
    done
done

# Paired runs: a bare app and one of ours (same tokio runtime) loaded at the same moment,
# both on the app CPU, with the same Cookie header, so the scheduler splits that core
# between them and whatever the host does hits both alike. With the core saturated, each
# gets about half of it, and the ratio of their throughputs is the inverse ratio of their
# costs per request. The scheduler's split is not always even, so each run also records
# the CPU time each app used: requests per CPU second, app over bare, compares the costs
# per request directly (`cpu_ratio`), whatever share of the core each got.
PAIRED_APPS=(ours ours_outer "${MATRIX_APPS[@]}" "${FLOOR_APPS[@]}")
echo "# paired: a bare app and one of ours (same runtime, same Cookie header) under load at the same time on cpu $APP_CPU, $ROUNDS rounds x ${DURATION}s; apps: ${PAIRED_APPS[*]}" | tee -a "$RESULTS"
PAIRED="$BENCH_DIR/paired.txt"
: >"$PAIRED"
wrk_to() { # FILE APP ROUTE COOKIE: one wrk run against APP into FILE
    local cookie=()
    [ "$3" = logged_in ] && cookie=(-H "Cookie: $4")
    taskset -c "$LOAD_CPU" wrk -t1 -c"$((CONNECTIONS / 2))" -d"${DURATION}s" "${cookie[@]}" \
        "http://127.0.0.1:$(port "$2")/" >"$1"
}
for round in $(seq 1 "$ROUNDS"); do
    # Rotate the order every round, as in the alternating runs: no app is always the
    # first pair of a round or always right after another.
    shift_by=$(( (round - 1) % ${#PAIRED_APPS[@]} ))
    paired_order=("${PAIRED_APPS[@]:shift_by}" "${PAIRED_APPS[@]:0:shift_by}")
    for app in "${paired_order[@]}"; do
        bare=$(bare_of "$(runtime_of "$app")")
        bare_pid_var="PID_$bare"
        cookie=$(cookie_for "$app")
        for route in logged_in anonymous; do
            pid_var="PID_$app"
            b0=$(cpu_s "${!bare_pid_var}"); a0=$(cpu_s "${!pid_var}")
            wrk_to "$BENCH_DIR/paired-bare.txt" "$bare" "$route" "$cookie" &
            w1=$!
            wrk_to "$BENCH_DIR/paired-app.txt" "$app" "$route" "$cookie" &
            w2=$!
            wait "$w1" "$w2"
            b1=$(cpu_s "${!bare_pid_var}"); a1=$(cpu_s "${!pid_var}")
            for f in paired-bare paired-app; do
                if grep -q "Non-2xx" "$BENCH_DIR/$f.txt"; then
                    echo "paired $app $route: error responses under load:" >&2
                    cat "$BENCH_DIR/$f.txt" >&2
                    exit 1
                fi
            done
            rb=$(awk '/^Requests\/sec:/ {print $2}' "$BENCH_DIR/paired-bare.txt")
            ra=$(awk '/^Requests\/sec:/ {print $2}' "$BENCH_DIR/paired-app.txt")
            cpu_ratio=$(awk -v rb="$rb" -v ra="$ra" -v b="$(awk -v x="$b1" -v y="$b0" 'BEGIN { print x - y }')" \
                -v a="$(awk -v x="$a1" -v y="$a0" 'BEGIN { print x - y }')" 'BEGIN { printf "%.4f", (a > 0 && b > 0) ? (ra / a) / (rb / b) : 0 }')
            line=$(awk -v rb="$rb" -v ra="$ra" -v b0="$b0" -v b1="$b1" -v a0="$a0" -v a1="$a1" -v d="$DURATION" 'BEGIN {
                printf "rps_bare=%.0f rps_app=%.0f ratio=%.4f core_busy=%.2f", rb, ra, ra / rb, (b1 - b0 + a1 - a0) / d }')
            echo "paired round=$round app=$app bare=$bare route=$route $line cpu_ratio=$cpu_ratio" | tee -a "$RESULTS"
            echo "$round $app $route $(awk -v rb="$rb" -v ra="$ra" 'BEGIN { print ra / rb }') $cpu_ratio" >>"$PAIRED"
            sleep "$PAUSE"
        done
    done
done
# paired_median APP ROUTE [list|cpu]: the median over rounds of APP's paired ratio (with
# `list`, and the sorted list; with `cpu`, of its CPU-time ratio instead).
paired_median() {
    local ratios n col=4
    [ "${3:-}" = cpu ] && col=5
    ratios=$(awk -v app="$1" -v rt="$2" -v c="$col" '$2 == app && $3 == rt { print $c }' "$PAIRED" | sort -g)
    n=$(wc -l <<<"$ratios")
    awk -v n="$n" 'NR == int((n + 1) / 2) { a = $1 } NR == int(n / 2) + 1 { b = $1 } END { printf "%.3f", (a + b) / 2 }' <<<"$ratios"
    [ "${3:-}" = list ] && printf ' (per round: %s)' "$(awk '{ printf "%.3f ", $1 }' <<<"$ratios")"
    return 0
}
echo "# paired: median over rounds of app/bare throughput (= bare's cost / the app's)" | tee -a "$RESULTS"
for route in logged_in anonymous; do
    for app in "${PAIRED_APPS[@]}"; do
        echo "  $route $app/$(bare_of "$(runtime_of "$app")") paired_ratio_median=$(paired_median "$app" "$route" list) cpu_ratio_median=$(paired_median "$app" "$route" cpu)" | tee -a "$RESULTS"
    done
done
echo "# summary: paired medians (app / bare of the same runtime; throughput, and per CPU second), store x runtime x route (Router::layer)" | tee -a "$RESULTS"
printf '  %-9s %-15s %-15s %9s %9s %9s %9s\n' store runtime app logged_in anonymous li_cpu anon_cpu | tee -a "$RESULTS"
summary_row() { # STORE RUNTIME APP
    printf '  %-9s %-15s %-15s %9s %9s %9s %9s\n' "$1" "$2" "$3" \
        "$(paired_median "$3" logged_in)" "$(paired_median "$3" anonymous)" \
        "$(paired_median "$3" logged_in cpu)" "$(paired_median "$3" anonymous cpu)" | tee -a "$RESULTS"
}
for store in $STORES; do
    for rt in $RUNTIMES; do
        summary_row "$store" "$rt" "$(variant "$store" "$rt")"
    done
done
for app in "${FLOOR_APPS[@]}"; do
    summary_row "(${app%_ct})" "$(runtime_of "$app")" "$app"
done

echo "# login throughput: $LOGINS logins, $LOGIN_CONCURRENCY at a time (client on cpu $LOAD_CPU with the provider)" | tee -a "$RESULTS"
for app in ours axum_oidc; do
    pid_var="PID_$app"
    app_pid=${!pid_var}
    path=$([ "$app" = ours ] && echo /auth/login || echo /login)
    a0=$(cpu_s "$app_pid"); p0=$(cpu_s "$PID_provider")
    line=$(timeout 300 taskset -c "$LOAD_CPU" "$BIN/client" "http://127.0.0.1:$(port "$app")$path" "$LOGINS" "$LOGIN_CONCURRENCY")
    a1=$(cpu_s "$app_pid"); p1=$(cpu_s "$PID_provider")
    echo "app=$app $line" | tee -a "$RESULTS"
    awk -v a="$a1" -v a0="$a0" -v p="$p1" -v p0="$p0" -v n="$LOGINS" -v app="$app" 'BEGIN {
        printf "app=%s cpu_ms_per_login: app=%.2f provider=%.2f\n", app, (a-a0)*1000/n, (p-p0)*1000/n }' | tee -a "$RESULTS"
done

echo "# memory per logged-in session in MemoryStore ($SESSIONS sessions, one process each)" | tee -a "$RESULTS"
for variant in entra minimal; do
    timeout 300 "$BIN/memory" "$variant" "$SESSIONS" | tee -a "$RESULTS"
done

echo "results saved in benches/$RESULTS"
