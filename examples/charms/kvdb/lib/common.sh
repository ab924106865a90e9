# shellcheck shell=sh
# Shared by every hook of the kvdb charm: sourced first thing by each hook
# (". "$CHARM_DIR/lib/common.sh""), never run on its own.
#
# It sets
#   HOOK    the name of the running hook (install, db-relation-joined, ...)
#   REMOTE  the remote unit of a relation hook, "-" when there is none
#   DATA    this unit's data directory:
#           ${AGENT_RUNTIME_CHARM_DATA:-$CHARM_DIR/../data}/<unit name, "/" -> "-">
#           e.g. $CHARM_DIR/../data/kvdb-0 for the unit kvdb/0
# then creates DATA and appends "<hook> <remote unit or ->" to $DATA/hooks.log.
#
# $DATA/grants lists the credentials this unit handed out, one line per remote
# unit: "<relation id> <unit> <user> <password>", e.g. "db:3 webapp/0 app pw1234".

: "${CHARM_DIR:?CHARM_DIR is not set: hooks run under a unit agent}"
: "${JUJU_UNIT_NAME:?JUJU_UNIT_NAME is not set: hooks run under a unit agent}"

HOOK=$(basename "$0")
REMOTE=${JUJU_REMOTE_UNIT:--}
DATA=${AGENT_RUNTIME_CHARM_DATA:-$CHARM_DIR/../data}/$(printf '%s' "$JUJU_UNIT_NAME" | tr / -)

mkdir -p "$DATA"
printf '%s %s\n' "$HOOK" "$REMOTE" >>"$DATA/hooks.log"

# write_file PATH: replace PATH with what is on stdin, atomically (whoever
# reads PATH sees the old file or the new one, never half of one).
write_file() {
    _tmp="$1.tmp.$$"
    cat >"$_tmp"
    mv -f "$_tmp" "$1"
}

# password RELATION_ID SERVICE: the password of the remote service SERVICE on
# the relation RELATION_ID. A unit's settings on a relation are one map that
# every remote unit reads, so the password is per remote service, not per
# remote unit. Deterministic (a CRC of both), so that running a hook again
# gives the same password: this is a demo, not a secret.
password() {
    _crc=$(printf '%s %s' "$1" "$2" | cksum) || return 1
    printf 'pw%s\n' "${_crc%% *}"
}

# grant RELATION_ID UNIT USER PASSWORD: record a grant (replacing an earlier
# one of the same unit on the same relation).
grant() {
    revoke "$1" "$2"
    printf '%s %s %s %s\n' "$1" "$2" "$3" "$4" >>"$DATA/grants"
}

# revoke RELATION_ID [UNIT]: remove the grant of UNIT on RELATION_ID, or every
# grant on RELATION_ID when no UNIT is given.
revoke() {
    touch "$DATA/grants"
    while read -r _rel _unit _user _password; do
        if [ "$_rel" = "$1" ] && { [ -z "${2:-}" ] || [ "$_unit" = "$2" ]; }; then
            continue
        fi
        printf '%s %s %s %s\n' "$_rel" "$_unit" "$_user" "$_password"
    done <"$DATA/grants" >"$DATA/grants.tmp.$$"
    mv -f "$DATA/grants.tmp.$$" "$DATA/grants"
}

# regrant USER: give every recorded grant the user USER.
regrant() {
    touch "$DATA/grants"
    while read -r _rel _unit _user _password; do
        printf '%s %s %s %s\n' "$_rel" "$_unit" "$1" "$_password"
    done <"$DATA/grants" >"$DATA/grants.tmp.$$"
    mv -f "$DATA/grants.tmp.$$" "$DATA/grants"
}
