#!/bin/sh
# The example charms' demo in one command, on the embedded state:
#
#     sh examples/charms/demo.sh [DIR]
#
# deploys kvdb (1 unit) and webapp (2 units) in a fresh AGENT_RUNTIME_HOME (DIR,
# or a new temporary directory), runs their three unit agents, relates the
# services, changes config, destroys a unit, and shows the files the hooks
# wrote and `agent-runtime status` along the way. The agents' logs go to
# DIR/<unit>.log; the agents are stopped (SIGTERM) at the end, or on Ctrl-C.
# AGENT_RUNTIME names the command (default: agent-runtime), e.g.
# AGENT_RUNTIME="python -m agent_runtime".
set -eu

charms=$(cd "$(dirname "$0")" && pwd)
home=${1:-$(mktemp -d "${TMPDIR:-/tmp}/agent-runtime-demo.XXXXXX")}
mkdir -p "$home"
home=$(cd "$home" && pwd)
export AGENT_RUNTIME_HOME="$home"
data="$home/charm-data"
ar=${AGENT_RUNTIME:-agent-runtime}
pids=

stop_agents() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
    wait || true
    pids=
}
trap stop_agents EXIT
trap 'exit 130' INT TERM

# run ARGS...: show and run an agent-runtime command.
run() {
    printf '\n$ agent-runtime'
    for arg in "$@"; do
        case $arg in
        *' '*) printf " '%s'" "$arg" ;;
        *) printf ' %s' "$arg" ;;
        esac
    done
    printf '\n'
    # shellcheck disable=SC2086 # $ar may be a command with arguments
    $ar "$@"
}

# agent UNIT CHARM: start the agent of UNIT in the background.
agent() {
    # shellcheck disable=SC2086
    $ar unit "$1" --charm "$charms/$2" 2>"$home/$(printf '%s' "$1" | tr / -).log" &
    pids="$pids $!"
}

# wait_for FILE TEXT [absent]: wait (30 s at most) until FILE holds TEXT, or
# with "absent" until it does not.
wait_for() {
    _tries=0
    while :; do
        if grep -qF -- "$2" "$1" 2>/dev/null; then _found=yes; else _found=no; fi
        if [ "${3:-present}" = absent ]; then
            [ "$_found" = no ] && return 0
        else
            [ "$_found" = yes ] && return 0
        fi
        _tries=$((_tries + 1))
        if [ "$_tries" -gt 150 ]; then
            echo "demo: timed out waiting for '$2' ${3:-present} in $1 (agents' logs: $home/*.log)" >&2
            exit 1
        fi
        sleep 0.2 2>/dev/null || sleep 1
    done
}

# show FILE...: print files under the charm-data directory.
show() {
    for file in "$@"; do
        printf '\n$ cat charm-data/%s\n' "$file"
        cat "$data/$file"
    done
}

echo "AGENT_RUNTIME_HOME=$home"
run deploy kvdb --charm "$charms/kvdb" -n 1
run deploy webapp --charm "$charms/webapp" -n 2

printf '\n(starting the agents of kvdb/0, webapp/0 and webapp/1)\n'
agent kvdb/0 kvdb
agent webapp/0 webapp
agent webapp/1 webapp
for unit in kvdb-0 webapp-0 webapp-1; do
    wait_for "$data/$unit/status" started
done
show webapp-0/app.conf

run relate webapp kvdb
for unit in webapp-0 webapp-1; do
    wait_for "$data/$unit/db.conf" password=
done
wait_for "$data/webapp-0/peers" webapp/1
wait_for "$data/webapp-1/peers" webapp/0
show kvdb-0/grants webapp-0/db.conf webapp-0/peers

run set-config webapp port=9090 "title=Hi there"
run set-config kvdb user=admin
for unit in webapp-0 webapp-1; do
    wait_for "$data/$unit/app.conf" port=9090
    wait_for "$data/$unit/db.conf" user=admin
done
show webapp-0/app.conf webapp-0/db.conf kvdb-0/grants
run status

run destroy-unit webapp/1
wait_for "$data/webapp-1/status" stopped
wait_for "$data/kvdb-0/grants" webapp/1 absent
wait_for "$data/webapp-0/peers" webapp/1 absent
show kvdb-0/grants webapp-1/hooks.log
run status

printf '\n(stopping the agents)\n'
stop_agents
printf '\nThe files are in %s; the state is %s/state.db.\n' "$data" "$home"
