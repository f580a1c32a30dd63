#!/usr/bin/env bash
# A private Dovecot + Postfix mail stack for tests.
#
# Everything lives under one state directory; the system instances and /etc
# configs are never touched. See usage() below.
#
#   bash tests/support/mailstack.sh install
#   bash tests/support/mailstack.sh start DIR [--parent-pid PID]
#   bash tests/support/mailstack.sh stop DIR [--purge]
#
# `start` prints KEY=VALUE facts on stdout (IMAP_PORT, IMAPS_PORT, SMTP_PORT,
# CA_FILE, STATE_DIR, PASSWORD, DOMAIN, DESK_DOMAIN, DESK_LMTP_PORTS,
# DESK_LMTP_SOCKETS, and SUBMISSION_PORT with OAuth2); all progress goes to
# stderr.
#
# Push delivery to ticketpost LMTP listeners, set up at start (Postfix allows
# no $1 in transport_maps, so each route is written out): in the desk domain
# (desk.test), transport_maps send
#   lmtp-PORT-anything@desk.test   to lmtp:inet:127.0.0.1:PORT
#       for each PORT of DESK_LMTP_PORTS (free ports when the stack started)
#   lmtpsock-N-anything@desk.test  to lmtp:unix:STATE_DIR/run/desk-N.sock
#       for N in 1..DESK_LMTP_SOCKETS
# A test listens there; any other desk.test address is an ordinary Dovecot
# mailbox.
#
# Environment:
#   IMAP_PORT, IMAPS_PORT, SMTP_PORT  fixed ports instead of free ones
#   MAIL_DOMAINS                      extra virtual domains (space/comma separated)
#   MAILSTACK_START_TIMEOUT           seconds to wait for the ports (default 30)
#   OAUTH2_INTROSPECTION_URL          when set: Dovecot also takes XOAUTH2 and
#                                     OAUTHBEARER, checking bearer tokens with an
#                                     `oauth2` passdb that POSTs them to this URL
#                                     (RFC 7662: answers {"active":true,
#                                     "username":...}); Postfix gets a submission
#                                     port (SUBMISSION_PORT) that requires SASL
#                                     AUTH through Dovecot's auth socket.
#                                     Without it the stack is as before.
set -euo pipefail

PASSWORD=secret
DOMAIN=example.test
DESK_DOMAIN=desk.test
DESK_LMTP_SOCKETS=8
SINK="sink@${DOMAIN}"

export PATH="$PATH:/usr/sbin:/sbin"

log() { printf "mailstack[%s]: %s\n" "$(date +%T.%3N)" "$*" >&2; }
# Set by `start` once a daemon may be running: a failed start stops it again.
CLEANUP_DIR=""
die() {
    printf 'mailstack: error: %s\n' "$*" >&2
    if [ -n "$CLEANUP_DIR" ]; then
        local d=$CLEANUP_DIR
        CLEANUP_DIR=""
        cmd_stop "$d" || true
    fi
    exit 1
}

usage() {
    cat >&2 <<'EOF'
usage: mailstack.sh install
       mailstack.sh start DIR [--parent-pid PID]
       mailstack.sh stop DIR [--purge]
EOF
    exit 2
}

# ---------------------------------------------------------------- install --

packages_present() {
    command -v dovecot >/dev/null 2>&1 &&
        command -v doveadm >/dev/null 2>&1 &&
        command -v postfix >/dev/null 2>&1 &&
        command -v postconf >/dev/null 2>&1 &&
        command -v openssl >/dev/null 2>&1 &&
        [ -x /usr/lib/dovecot/lmtp ] &&
        [ -x /usr/lib/dovecot/imap ]
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_OURS=0

remove_policy_rc() {
    if [ "$POLICY_RC_OURS" = 1 ]; then
        rm -f "$POLICY_RC"
        POLICY_RC_OURS=0
    fi
}

cmd_install() {
    if packages_present; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        die "postfix/dovecot are not installed and installing them needs root (apt-get install postfix dovecot-imapd dovecot-lmtpd openssl)"
    fi
    log "installing postfix dovecot-imapd dovecot-lmtpd openssl (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' own system daemons from starting during install.
    if [ ! -e "$POLICY_RC" ]; then
        trap remove_policy_rc EXIT
        trap 'remove_policy_rc; exit 130' INT TERM HUP
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 0755 "$POLICY_RC"
        POLICY_RC_OURS=1
    fi
    local rc=0
    {
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections &&
            apt-get update -q &&
            apt-get install -y -q --no-install-recommends \
                -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                postfix dovecot-imapd dovecot-lmtpd openssl
    } >&2 || rc=$?
    remove_policy_rc
    trap - EXIT INT TERM HUP
    [ "$rc" = 0 ] || die "apt-get failed (exit $rc)"
    packages_present || die "packages installed but binaries still missing"
}

# ------------------------------------------------------------------ ports --

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints N free TCP ports on 127.0.0.1, one per line.
free_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$n" <<'EOF' && return 0
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
    fi
    # Fallback: random high ports that nobody answers on.
    local got=() p tries=0
    while [ "${#got[@]}" -lt "$n" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 1000 ] || die "could not find free ports"
        p=$((20000 + RANDOM % 40000))
        port_in_use "$p" && continue
        case " ${got[*]-} " in *" $p "*) continue ;; esac
        got+=("$p")
    done
    printf '%s\n' "${got[@]}"
}

wait_for_port() {
    local port=$1 deadline=$2
    until port_in_use "$port"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# --------------------------------------------------------------- process --

# All descendants of PID (not PID itself), one per line (from /proc, so
# neither procps nor /proc/PID/task/*/children is needed).
descendants() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
        { s = $0; sub(/^.*\) /, "", s); split(s, a, " "); parent[$1] = a[2] }
        END {
            n = 1; q[1] = root
            for (i = 1; i <= n; i++)
                for (p in parent)
                    if (parent[p] == q[i]) { q[++n] = p; print p }
        }'
}

pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null
}

read_pid() {
    local f=$1
    [ -f "$f" ] || return 0
    tr -d ' \n' <"$f" 2>/dev/null || true
}

# The master PID from a pid file, only if that process is still the master
# of this instance (a stale pid file may name an unrelated process).
dovecot_pid() {
    local pid
    pid=$(read_pid "$1/run/master.pid")
    pid_alive "$pid" && grep -qaF -- "$1/dovecot.conf" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
    return 0
}
postfix_pid() {
    local pid
    pid=$(read_pid "$1/postfix/queue/pid/master.pid")
    pid_alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = master ] &&
        grep -qaF -- "MAIL_CONFIG=$1/postfix" "/proc/$pid/environ" 2>/dev/null && echo "$pid"
    return 0
}

# Process start time (field 22 of /proc/PID/stat) to detect PID reuse.
proc_start() {
    [ -r "/proc/$1/stat" ] || return 1
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# "PID:STARTTIME" for PID, to compare later with same_proc.
proc_id() {
    local st
    st=$(proc_start "$1") && echo "$1:$st"
}
# True while the process named by a proc_id is alive (zombies count as gone:
# orphans are reaped by PID 1, which in containers may take seconds).
same_proc() {
    local pid=${1%%:*} st=${1#*:} line
    line=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    line=${line##*) }
    # shellcheck disable=SC2086 # split the fields
    set -- $line
    [ "$1" != Z ] && [ "${20}" = "$st" ]
}

# ------------------------------------------------------------------ start --

write_certs() {
    local dir=$1
    if [ -s "$dir/ca.pem" ] && [ -s "$dir/server.pem" ] && [ -s "$dir/server.key" ]; then
        return 0
    fi
    log "generating test CA and server certificate"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -days 3650 -subj "/CN=ticketpost test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
    openssl req -new "${ec[@]}" -keyout "$dir/server.key" -out "$dir/server.csr" \
        -subj "/CN=localhost" 2>/dev/null
    cat >"$dir/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 825 -extfile "$dir/server.ext" \
        -out "$dir/server.pem" 2>/dev/null
    rm -f "$dir/server.csr" "$dir/server.ext"
    chmod 0600 "$dir/ca.key" "$dir/server.key"
    chmod 0644 "$dir/ca.pem" "$dir/server.pem"
}

# ----------------------------------------------------------------- oauth2 --
# Pieces of the configs that exist only with OAUTH2_INTROSPECTION_URL.

oauth2_mechanisms() {
    [ -z "${OAUTH2_INTROSPECTION_URL:-}" ] || printf ' xoauth2 oauthbearer'
}
# The static passdb keeps answering PLAIN/LOGIN only: a refused token must not
# fall through to it.
oauth2_static_mechanisms() {
    [ -z "${OAUTH2_INTROSPECTION_URL:-}" ] || printf '\n  mechanisms = plain login'
}
oauth2_passdb() {
    [ -n "${OAUTH2_INTROSPECTION_URL:-}" ] || return 0
    printf 'passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s/dovecot-oauth2.conf.ext\n}\n' "$1"
}
# Postfix's smtpd asks Dovecot over this socket (smtpd_sasl_type = dovecot).
oauth2_auth_listener() {
    [ -n "${OAUTH2_INTROSPECTION_URL:-}" ] || return 0
    printf 'service auth {\n  unix_listener auth-postfix {\n    mode = 0666\n  }\n}\n'
}
write_oauth2_conf() {
    local dir=$1
    cat >"$dir/dovecot-oauth2.conf.ext" <<EOF
# Generated by tests/support/mailstack.sh -- bearer tokens are checked by POSTing
# token=<token> to the test's introspection endpoint.
introspection_url = $OAUTH2_INTROSPECTION_URL
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
}

write_dovecot_conf() {
    local dir=$1 imap_port=$2 imaps_port=$3 instance=$4
    local first_uid
    first_uid=$(id -u mail)
    cat >"$dir/dovecot.conf" <<EOF
# Generated by tests/support/mailstack.sh -- private test instance.
instance_name = $instance
base_dir = $dir/run
state_dir = $dir/dovecot-state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
debug_log_path = $dir/dovecot.log
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull

protocols = imap lmtp
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <$dir/server.pem
ssl_key = <$dir/server.key

disable_plaintext_auth = no
auth_mechanisms = plain login$(oauth2_mechanisms)
auth_failure_delay = 0
auth_verbose = yes
$(oauth2_passdb "$dir")
passdb {
  driver = static
  args = password=$PASSWORD$(oauth2_static_mechanisms)
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/home/%d/%n allow_all_users=yes
}

# The mail user is a system account (uid < 500 on Debian).
first_valid_uid = $first_uid
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
# No auth penalty: a test that tries a wrong password must not slow down
# every later login from 127.0.0.1 (anvil delays them up to 15 s).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
$(oauth2_auth_listener)
protocol imap {
  mail_max_userip_connections = 200
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
EOF
}

write_postfix_conf() {
    local dir=$1 smtp_port=$2 domains=$3
    local pf=$dir/postfix
    local dom_re
    # shellcheck disable=SC2086 # one domain per word
    dom_re=$(printf '%s\n' $domains | sed 's/\./\\./g' | paste -sd'|' -)
    cat >"$pf/main.cf" <<EOF
# Generated by tests/support/mailstack.sh -- private test instance.
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
maillog_file = $dir/postfix.log
maillog_file_prefixes = $dir
syslog_name = postfix-test

myhostname = localhost
mydomain = $DOMAIN
myorigin = \$mydomain
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relay_domains =
relayhost =
local_transport = error:local delivery is disabled
default_transport = error:delivery outside the test domains is disabled
relay_transport = error:delivery outside the test domains is disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtputf8_enable = no

virtual_mailbox_domains = $domains
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:unix:$dir/run/lmtp
# Desk addresses that name an LMTP listener of ticketpost (see the header).
transport_maps = regexp:$pf/transport
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =

# Never relay anywhere outside: every envelope recipient outside the virtual
# domains goes to one sink mailbox (the To: header stays as it was).
recipient_canonical_maps = regexp:$pf/recipient_canonical
recipient_canonical_classes = envelope_recipient

smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
message_size_limit = 52428800

# Fast delivery for tests.
in_flow_delay = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
default_destination_concurrency_limit = 50
lmtp_destination_concurrency_limit = 50
lmtp_destination_recipient_limit = 50
default_destination_rate_delay = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
EOF
    {
        echo "# Generated: recipients outside the test domains go to the sink."
        echo "!/@($dom_re)\$/ $SINK"
    } >"$pf/recipient_canonical"
    local desk_re=${DESK_DOMAIN//./\\.} p n
    {
        echo "# Generated: desk addresses routed to ticketpost LMTP listeners."
        for p in ${5:-}; do
            echo "/^lmtp-$p-[^@]*@${desk_re}\$/ lmtp:inet:127.0.0.1:$p"
        done
        for n in $(seq 1 "$DESK_LMTP_SOCKETS"); do
            echo "/^lmtpsock-$n-[^@]*@${desk_re}\$/ lmtp:unix:$dir/run/desk-$n.sock"
        done
    } >"$pf/transport"

    cat >"$pf/master.cf" <<EOF
# Generated by tests/support/mailstack.sh -- private test instance.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$smtp_port inet n - n - - smtpd
$(submission_service "$dir" "${4:-}")
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    # Postfix re-reads a config file until it is over a second old (300 ms
    # sleeps, ~2 s in all); backdating the files makes startup instant.
    touch -d '-1 minute' "$pf/main.cf" "$pf/master.cf" "$pf/recipient_canonical" "$pf/transport"
}

# Submission with SASL AUTH through Dovecot (only with OAuth2): mail is taken
# from authenticated clients only; STARTTLS with the test certificate is offered.
submission_service() {
    local dir=$1 port=$2
    [ -n "$port" ] || return 0
    cat <<EOF
127.0.0.1:$port inet n - n - - smtpd
  -o syslog_name=postfix-test/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=$dir/run/auth-postfix
  -o smtpd_sasl_security_options=noanonymous
  -o smtpd_tls_security_level=may
  -o smtpd_tls_cert_file=$dir/server.pem
  -o smtpd_tls_key_file=$dir/server.key
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
EOF
}

create_postfix_dirs() {
    local pf=$1 q=$1/queue d
    install -d -o root -g root -m 0755 "$q" "$q/pid"
    install -d -o postfix -g postfix -m 0700 "$pf/data"
    for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        install -d -o postfix -g root -m 0700 "$q/$d"
    done
    install -d -o postfix -g postdrop -m 0730 "$q/maildrop"
    install -d -o postfix -g postdrop -m 0710 "$q/public"
}

start_watcher() {
    local dir=$1 ppid=$2 script start
    script=$(readlink -f "${BASH_SOURCE[0]}")
    start=$(proc_start "$ppid") || die "--parent-pid $ppid: no such process"
    # Detached from our stdio so the caller sees EOF when `start` exits.
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c '
        ppid=$1 start=$2 script=$3 dir=$4
        while [ "$(sed "s/^.*) //" /proc/$ppid/stat 2>/dev/null | cut -d" " -f20)" = "$start" ]; do
            sleep 0.5
        done
        exec bash "$script" stop "$dir" --purge
    ' mailstack-watcher "$ppid" "$start" "$script" "$dir" \
        </dev/null >>"$dir/watcher.log" 2>&1 &
    echo $! >"$dir/watcher.pid"
}

kill_watcher() {
    local dir=$1 pid
    pid=$(read_pid "$dir/watcher.pid")
    if pid_alive "$pid" && [ "$pid" != "$$" ] && [ "$pid" != "$PPID" ]; then
        kill "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/watcher.pid"
}

cmd_start() {
    local dir="" parent_pid=""
    while [ $# -gt 0 ]; do
        case $1 in
        --parent-pid)
            [ $# -ge 2 ] || usage
            parent_pid=$2
            shift 2
            ;;
        -*) usage ;;
        *)
            [ -z "$dir" ] || usage
            dir=$1
            shift
            ;;
        esac
    done
    [ -n "$dir" ] || usage
    if [ "$(id -u)" != 0 ]; then
        die "start needs root (Postfix's master only runs as root)"
    fi

    local t0
    t0=$(date +%s.%N)
    cmd_install

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)

    # Starting twice into the same DIR restarts cleanly (mailboxes are kept).
    if [ -n "$(dovecot_pid "$dir")$(postfix_pid "$dir")" ]; then
        log "a stack is already running in $dir: stopping it first"
        cmd_stop "$dir"
    fi
    kill_watcher "$dir"

    local imap_port=${IMAP_PORT:-} imaps_port=${IMAPS_PORT:-} smtp_port=${SMTP_PORT:-}
    local free=()
    mapfile -t free < <(free_ports 10)
    [ "${#free[@]}" = 10 ] || die "could not find free ports"
    [ -n "$imap_port" ] || imap_port=${free[0]}
    [ -n "$imaps_port" ] || imaps_port=${free[1]}
    [ -n "$smtp_port" ] || smtp_port=${free[2]}
    local submission_port=""
    if [ -n "${OAUTH2_INTROSPECTION_URL:-}" ]; then
        submission_port=${SUBMISSION_PORT:-${free[3]}}
    fi
    local p
    for p in "$imap_port" "$imaps_port" "$smtp_port" $submission_port; do
        [[ $p =~ ^[0-9]+$ ]] || die "bad port: $p"
        ! port_in_use "$p" || die "port $p on 127.0.0.1 is already in use"
    done

    local domains d
    domains=$(printf '%s %s %s\n' "$DOMAIN" "$DESK_DOMAIN" "${MAIL_DOMAINS:-}" | tr ',' ' ' | xargs -n1 | awk '!seen[tolower($0)]++' | xargs)

    for d in $domains; do
        [[ $d =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]] || die "bad domain in MAIL_DOMAINS: $d"
    done

    # The state dir must be traversable by the postfix and mail users.
    chmod 0755 "$dir"
    mkdir -p "$dir/run" "$dir/dovecot-state" "$dir/postfix"
    install -d -o mail -g mail -m 0700 "$dir/home"

    # A unix socket path is limited to 107 bytes.
    local sock="$dir/run/lmtp"
    [ "${#sock}" -lt 100 ] || die "state dir path too long for unix sockets: $dir"

    write_certs "$dir"
    local instance
    instance="tp-$(printf '%s' "$dir" | md5sum | cut -c1-10)"
    write_dovecot_conf "$dir" "$imap_port" "$imaps_port" "$instance"
    [ -z "${OAUTH2_INTROSPECTION_URL:-}" ] || write_oauth2_conf "$dir"
    # Ports for ticketpost LMTP listeners of the tests (nothing listens yet).
    local desk_ports="${free[*]:4:6}"
    write_postfix_conf "$dir" "$smtp_port" "$domains" "$submission_port" "$desk_ports"

    log "starting dovecot (imap $imap_port, imaps $imaps_port)"
    CLEANUP_DIR=$dir
    dovecot -c "$dir/dovecot.conf" </dev/null >>"$dir/dovecot.log" 2>&1 ||
        die "dovecot failed to start; see $dir/dovecot.log: $(tail -n 5 "$dir/dovecot.log" 2>/dev/null)"

    log "starting postfix (smtp $smtp_port)"
    local pf=$dir/postfix
    # Equivalent of `postfix -c DIR post-install create-missing` (which takes
    # over 2 s): the queue layout from $meta_directory/postfix-files.
    create_postfix_dirs "$pf" || die "could not create the postfix queue directories"
    postconf -c "$pf" >/dev/null 2>>"$dir/postfix-start.log" ||
        die "postfix config is invalid; see $dir/postfix-start.log"
    # The queue directories were just created; skip the slow integrity checks.
    touch "$pf/queue/quick-start"
    postfix -c "$pf" start </dev/null >>"$dir/postfix-start.log" 2>&1 ||
        die "postfix failed to start; see $dir/postfix-start.log and $dir/postfix.log: $(tail -n 5 "$dir/postfix.log" 2>/dev/null)"

    if [ -n "$parent_pid" ]; then
        start_watcher "$dir" "$parent_pid"
    fi

    local deadline=$(($(date +%s) + ${MAILSTACK_START_TIMEOUT:-30}))
    for p in "$imap_port" "$imaps_port" "$smtp_port" $submission_port; do
        wait_for_port "$p" "$deadline" ||
            die "port $p did not open in time; see $dir/dovecot.log and $dir/postfix.log"
    done
    [ -S "$sock" ] || die "dovecot lmtp socket $sock is missing"

    cat >"$dir/stack.env" <<EOF
IMAP_PORT=$imap_port
IMAPS_PORT=$imaps_port
SMTP_PORT=$smtp_port
CA_FILE=$dir/ca.pem
STATE_DIR=$dir
PASSWORD=$PASSWORD
DOMAIN=$DOMAIN
DESK_DOMAIN=$DESK_DOMAIN
DESK_LMTP_PORTS=$desk_ports
DESK_LMTP_SOCKETS=$DESK_LMTP_SOCKETS
EOF
    [ -z "$submission_port" ] || echo "SUBMISSION_PORT=$submission_port" >>"$dir/stack.env"
    CLEANUP_DIR=""
    log "ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s (logs: $dir/dovecot.log $dir/postfix.log)"
    cat "$dir/stack.env"
}

# ------------------------------------------------------------------- stop --

cmd_stop() {
    local dir="" purge=0
    while [ $# -gt 0 ]; do
        case $1 in
        --purge)
            purge=1
            shift
            ;;
        -*) usage ;;
        *)
            [ -z "$dir" ] || usage
            dir=$1
            shift
            ;;
        esac
    done
    [ -n "$dir" ] || usage
    if [ ! -d "$dir" ]; then
        log "nothing to stop: $dir does not exist"
        return 0
    fi
    dir=$(cd "$dir" && pwd -P)

    local dpid ppid procs=()
    dpid=$(dovecot_pid "$dir")
    ppid=$(postfix_pid "$dir")
    local p id
    local m
    for m in $dpid $ppid; do
        for p in "$m" $(descendants "$m"); do
            id=$(proc_id "$p") && procs+=("$id")
        done
    done

    # Signal both masters at once. `postfix abort` is `postfix stop` without
    # its 1 s polling loop (both just SIGTERM the master); `doveadm stop`
    # waits for Dovecot's master to exit. We do the waiting below.
    local waiters=()
    if [ -n "$ppid" ]; then
        log "stopping postfix"
        { postfix -c "$dir/postfix" abort || kill "$ppid"; } </dev/null >/dev/null 2>&1 &
        waiters+=($!)
    fi
    if [ -n "$dpid" ]; then
        log "stopping dovecot"
        { doveadm -c "$dir/dovecot.conf" stop || kill "$dpid"; } </dev/null >/dev/null 2>&1 &
        waiters+=($!)
    fi

    # Wait for every process of both instances. Once both masters are gone,
    # stragglers get a SIGKILL (Dovecot's log and stats processes ignore
    # SIGTERM and linger ~2 s); so does anything left after 10 s.
    local _ left=() termed=0 masters
    for _ in $(seq 1 200); do
        left=()
        masters=0
        for id in "${procs[@]}"; do
            if same_proc "$id"; then
                left+=("${id%%:*}")
                case " $dpid $ppid " in *" ${id%%:*} "*) masters=1 ;; esac
            fi
        done
        [ "${#left[@]}" -gt 0 ] || break
        if [ "$masters" = 0 ] && [ "$termed" = 0 ]; then
            kill -KILL "${left[@]}" 2>/dev/null || true
            termed=1
        fi
        sleep 0.05
    done
    if [ "${#left[@]}" -gt 0 ]; then
        log "killing leftover processes: ${left[*]}"
        kill -9 "${left[@]}" 2>/dev/null || true
    fi
    [ "${#waiters[@]}" = 0 ] || wait "${waiters[@]}" 2>/dev/null || true

    # Postfix's master.pid is a lock file; remove stale pid files.
    rm -f "$dir/run/master.pid"
    if [ "$purge" = 1 ]; then
        kill_watcher "$dir"
        rm -rf "$dir"
        log "purged $dir"
    fi
}

# ------------------------------------------------------------------- main --

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
install)
    [ $# = 0 ] || usage
    cmd_install
    ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
*) usage ;;
esac
