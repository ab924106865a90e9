# shellcheck shell=sh
# Shared by every hook of the webapp charm: sourced first thing by each hook
# (". "$CHARM_DIR/lib/common.sh""), never run on its own.
#
# It sets
#   HOOK    the name of the running hook (install, db-relation-changed, ...)
#   REMOTE  the remote unit of a relation hook, "-" when there is none
#   DATA    this unit's data directory:
#           ${AGENT_RUNTIME_CHARM_DATA:-$CHARM_DIR/../data}/<unit name, "/" -> "-">
#           e.g. $CHARM_DIR/../data/webapp-0 for the unit webapp/0
# then creates DATA and appends "<hook> <remote unit or ->" to $DATA/hooks.log.

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

# db_settings UNIT: read the host, user and password that the database unit
# UNIT set on the running hook's relation into DB_HOST, DB_USER and
# DB_PASSWORD (empty when not set yet), and the names of the missing ones into
# DB_MISSING (empty when all are there). Fails if a relation-get fails.
db_settings() {
    DB_HOST=$(relation-get host "$1") || return 1
    DB_USER=$(relation-get user "$1") || return 1
    DB_PASSWORD=$(relation-get password "$1") || return 1
    DB_MISSING=
    [ -n "$DB_HOST" ] || DB_MISSING="$DB_MISSING host"
    [ -n "$DB_USER" ] || DB_MISSING="$DB_MISSING user"
    [ -n "$DB_PASSWORD" ] || DB_MISSING="$DB_MISSING password"
    DB_MISSING=${DB_MISSING# }
}

# write_db_conf UNIT: write $DATA/db.conf from the settings db_settings read
# from the database unit UNIT.
write_db_conf() {
    write_file "$DATA/db.conf" <<CONF
host=$DB_HOST
user=$DB_USER
password=$DB_PASSWORD
unit=$1
relation=$JUJU_RELATION_ID
CONF
}

# db_conf_value KEY: the value of KEY in $DATA/db.conf (nothing if there is none).
db_conf_value() {
    if [ -f "$DATA/db.conf" ]; then
        sed -n "s/^$1=//p" "$DATA/db.conf"
    fi
}

# update_peers: write the peer units (relation-list of the running hook's
# relation) to $DATA/peers, one per line, and log how many there are.
update_peers() {
    relation-list -o "$DATA/peers.tmp.$$" || return 1
    mv -f "$DATA/peers.tmp.$$" "$DATA/peers"
    _count=$(grep -c . "$DATA/peers" || true)
    juju-log "$_count peer(s) in $JUJU_RELATION_ID"
}
