#!/usr/bin/env python3
"""A store of N tickets, made straight in SQLite, and the read side timed on it.

For checking the read side at size (`tickets list`, `tickets show`, the dashboard,
`/metrics`, `sla`, `report`) without ingesting N requests first: the rows are
written as ingest would leave them, with a year of history, repeated subjects and
senders, about half the tickets closed, two SLA clocks per ticket (breached, at
risk and running ones among the open tickets), the mail sent for each ticket and its
timeline. The raw mail is filler of the given size: nothing here parses it.

    bigstore.py build DIR N BIN [--blob BYTES] [--port PORT]
        DIR/ticketpost.toml and DIR/var/ticketpost.db with N tickets; BIN (a
        ticketpost binary) makes and migrates the empty store first, so the rows
        are written at BIN's schema.
    bigstore.py time DIR BIN [--runs R] [--month YYYY-MM] [--skip NAME,...]
        Runs BIN's read side on DIR R times each (the first run is a warm-up) and
        prints the median wall time of each, in ms. Starts `BIN run` for the HTTP
        part and stops it (SIGTERM) afterwards.

Not a benchmark of ingest (that is `benches/`); the figures are for one machine.
"""

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

DAY = 86_400
PRIORITIES = [("P1", 0.05), ("P2", 0.20), ("P3", 0.60), ("P4", 0.15)]
# (first response, resolution) targets in seconds, 24x7 for simplicity.
TARGETS = {
    "P1": (3_600, DAY),
    "P2": (4 * 3_600, 3 * DAY),
    "P3": (8 * 3_600, 5 * DAY),
    "P4": (DAY, 10 * DAY),
}
OPEN_STATUSES = [("open", 0.6), ("waiting", 0.2), ("pending", 0.1), ("resolved", 0.1)]
AGENTS = ["ann@example.test", "bo@example.test", "nick@example.test"]
SUBJECTS = [
    "VPN down",
    "Printer on floor {n} jams",
    "Cannot log in to SAP",
    "Mailbox full",
    "ERP report {n} is empty",
    "New laptop for {name}",
    "OA approval stuck",
    "Password reset",
    "Wi-Fi drops in room {n}",
    "Excel macro error {n}",
]


def pick(weighted, rnd):
    x = rnd.random()
    for value, share in weighted:
        x -= share
        if x < 0:
            return value
    return weighted[-1][0]


def config_text(root, port):
    return f"""[store]
path = "{root}/var/ticketpost.db"
[mailbox]
kind = "maildir"
path = "{root}/var/inbox"
poll_interval = 1
[transport]
kind = "file"
path = "{root}/var/outbox"
[desk]
support_address = "support@example.test"
support_name = "Example Support"
agents = ["Ann Lee <ann@example.test>", "Bo Chen <bo@example.test>"]
supervisors = ["Sam Rivera <sam@example.test>"]
[http]
listen = "127.0.0.1:{port}"
"""


def build(args):
    root = os.path.abspath(args.dir)
    for sub in ["var/inbox/new", "var/inbox/cur", "var/inbox/tmp", "var/outbox"]:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    cfg = os.path.join(root, "ticketpost.toml")
    with open(cfg, "w") as f:
        f.write(config_text(root, args.port))
    db = os.path.join(root, "var/ticketpost.db")
    if os.path.exists(db):
        sys.exit(f"{db} exists; remove it first")
    subprocess.run([args.bin, "--config", cfg, "run", "--once"], check=True,
                   stdout=subprocess.DEVNULL)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    started = time.time()
    fill(conn, args.n, args.blob)
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = os.path.getsize(db)
    print(f"{args.n} tickets in {time.time() - started:.1f} s; {size / 1e6:.0f} MB "
          f"({size / args.n / 1e3:.1f} KB per ticket)")


def fill(conn, n, blob):
    rnd = random.Random(17)
    now = int(time.time())
    first = now - 365 * DAY
    filler = (b"x" * 76 + b"\r\n") * (blob // 78 + 1)
    tickets, messages, ids, events, outbox, clocks = [], [], [], [], [], []
    msg_row = out_row = 0

    def flush():
        conn.executemany(
            "INSERT INTO tickets (id, status, priority, requester, requester_name, subject,"
            " created_at, updated_at, assignee, team, closed_at, first_response_at,"
            " resolution) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", tickets)
        conn.executemany(
            "INSERT INTO messages (id, ticket_id, identity, message_id, content_hash, kind,"
            " from_address, from_name, to_json, cc_json, subject, sent_date,"
            " references_json, text_body, attachments_json, problems_json, raw,"
            " received_at, visible_text)"
            " VALUES (?,?,?,?,?,?,?,?,'[\"support@example.test\"]','[]',?,?,'[]',?,'[]',"
            "'[]',?,?,?)", messages)
        conn.executemany(
            "INSERT INTO message_ids (message_id, ticket_id, outgoing) VALUES (?,?,?)", ids)
        conn.executemany(
            "INSERT INTO events (ticket_id, at, actor, kind, detail) VALUES (?,?,?,?,?)",
            events)
        conn.executemany(
            "INSERT INTO outbox (id, ticket_id, kind, message_id, mail_from,"
            " recipients_json, subject, raw, state, attempts, next_attempt_at, last_error,"
            " created_at, sent_at) VALUES (?,?,?,?,'support@example.test',?,?,?,?,1,?,?,?,?)",
            outbox)
        conn.executemany(
            "INSERT INTO sla_clocks (ticket_id, target, priority, hours, target_seconds,"
            " started_at, consumed, running_since, warn_at, due_at, escalate_at, met_at,"
            " warned_at, breached_at, escalated_at, next_alert_at)"
            " VALUES (?,?,?,'24x7',?,?,?,?,?,?,NULL,?,?,?,NULL,?)", clocks)
        for rows in (tickets, messages, ids, events, outbox, clocks):
            rows.clear()

    for tid in range(1, n + 1):
        created = first + (365 * DAY * (tid - 1)) // n + rnd.randrange(60)
        priority = pick(PRIORITIES, rnd)
        age = (now - created) / (365 * DAY)
        closed = rnd.random() < age  # about half, the older ones more often
        status = "closed" if closed else pick(OPEN_STATUSES, rnd)
        sender = rnd.randrange(5_000)
        requester = f"user{sender}@corp{sender % 40}.example"
        subject = rnd.choice(SUBJECTS).format(n=rnd.randrange(30), name=f"user{sender}")
        assignee = rnd.choice(AGENTS + [None]) if rnd.random() < 0.8 else None
        team = "network" if "VPN" in subject or "Wi-Fi" in subject else None
        fr_target, res_target = TARGETS[priority]
        responded = closed or rnd.random() < 0.7
        first_response = created + rnd.randrange(300, 2 * fr_target) if responded else None
        closed_at = created + rnd.randrange(3_600, 2 * res_target) if closed else None
        if closed_at is not None and closed_at > now:
            closed_at = now - rnd.randrange(3_600)
        if first_response is not None and first_response > now:
            first_response = None
        updated = max(x for x in (created, first_response, closed_at) if x is not None)
        tickets.append((tid, status, priority, requester, f"User {sender}", subject,
                        created, updated, assignee, team, closed_at, first_response,
                        "fixed" if closed else None))
        # The request, and a reply from the requester on some.
        for k, at in enumerate([created] + ([updated] if rnd.random() < 0.4 else [])):
            msg_row += 1
            mid = f"<m{msg_row}@corp.example>"
            text = f"{subject}: it fails every time since this morning. Ticket {tid}."
            messages.append((msg_row, tid, mid, mid, f"h{msg_row}",
                             "request" if k == 0 else "reply", requester, f"User {sender}",
                             subject, at, text, filler[:blob], at, text))
            ids.append((mid, tid, 0))
        mails = [("acknowledgement", [requester])] + [("new_ticket", [a]) for a in AGENTS[:2]]
        if first_response is not None:
            mails.append(("agent_reply", [requester]))
        if closed:
            mails.append(("closed", [requester]))
        events.append((tid, created, requester, "created", f"request from {requester}"))
        for kind, to in mails:
            out_row += 1
            mid = f"<o{out_row}@desk.example.test>"
            failed = rnd.random() < 0.002
            outbox.append((out_row, tid, kind, mid, f'["{to[0]}"]', f"[TP-{tid}] {subject}",
                           filler[: blob // 2], "failed" if failed else "sent", created,
                           "550 no such user" if failed else None, created,
                           None if failed else created + 1))
            ids.append((mid, tid, 1))
            events.append((tid, created + 1, "ticketpost", "sent",
                           f"{kind} sent to {to[0]} ({mid})"))
        if closed:
            events.append((tid, closed_at, "ann@example.test", "status", "closed"))
        waiting = status == "waiting"
        for target, secs, met in (("first_response", fr_target, first_response),
                                  ("resolution", res_target, closed_at)):
            clocks.append(clock(tid, target, priority, secs, created, met, waiting, now, rnd))
        if tid % 20_000 == 0:
            flush()
    flush()


def clock(tid, target, priority, secs, created, met, paused, now, rnd):
    """One clock row: met, paused or running (breached, at risk or not yet)."""
    if met is not None:
        consumed = met - created
        breached = met if consumed > secs else None
        return (tid, target, priority, secs, created, consumed, None, None, None, met,
                breached and met, breached, None)
    if paused:
        consumed = min(now - created, rnd.randrange(secs // 2, secs * 2))
        breached = created + secs if consumed > secs else None
        return (tid, target, priority, secs, created, consumed, None, None, None, None,
                breached, breached, None)
    warn_at, due_at = created + secs * 4 // 5, created + secs
    warned = warn_at if warn_at <= now else None
    breached = due_at if due_at <= now else None
    next_alert = None if breached else (due_at if warned else warn_at)
    return (tid, target, priority, secs, created, 0, created, warn_at, due_at, None,
            warned, breached, next_alert)


def timed(run, runs):
    run()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def cli(bin_, cfg, *args):
    def run():
        p = subprocess.run([bin_, "--config", cfg, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.exit(f"{' '.join(args)} failed: {p.stderr.decode()}")
        run.out = p.stdout
    return run


def http(port, path):
    def run():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
                run.out = r.read()
        except urllib.error.HTTPError as e:
            # A 503 is the service's own time limit (10 s) on the store's reads.
            run.out = f"HTTP {e.code}".encode()
    return run


def time_read_side(args):
    root = os.path.abspath(args.dir)
    cfg = os.path.join(root, "ticketpost.toml")
    port = next(int(l.split(":")[-1].strip().strip('"')) for l in open(cfg)
                if l.startswith("listen"))
    year, month = map(int, args.month.split("-"))
    last = {1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31,
            11: 30, 12: 31}[month]
    since, until = f"{year}-{month:02}-01", f"{year}-{month:02}-{last}"
    rows = []
    skip = set(filter(None, args.skip.split(",")))
    for name, run in [
        ("tickets list", cli(args.bin, cfg, "tickets", "list")),
        ("tickets list --json", cli(args.bin, cfg, "tickets", "list", "--json")),
        (f"tickets show TP-{args.show}", cli(args.bin, cfg, "tickets", "show",
                                             f"TP-{args.show}")),
        ("sla", cli(args.bin, cfg, "sla")),
        (f"report {args.month}", cli(args.bin, cfg, "report", "--since", since,
                                     "--until", until)),
    ]:
        if name.split(" TP-")[0] in skip:
            continue
        ms = timed(run, args.runs)
        rows.append((name, ms, run.out))
    service = subprocess.Popen([args.bin, "--config", cfg, "run"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ,
                                                               "TICKETPOST_LOG": "warn"})
    try:
        t0 = time.time()
        while True:
            try:
                http(port, "/healthz")()
                break
            except OSError:
                if service.poll() is not None or time.time() - t0 > 600:
                    sys.exit("the service did not come up")
                time.sleep(0.2)
        print(f"service up in {time.time() - t0:.1f} s (migration included)")
        for name, path in [("GET /", "/"), ("GET /metrics", "/metrics"),
                           ("GET /healthz", "/healthz")]:
            run = http(port, path)
            ms = timed(run, args.runs)
            rows.append((name, ms, run.out))
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
    print(f"{'what':<28} {'median ms':>10} {'bytes':>10}")
    for name, ms, out in rows:
        size = out.decode() if out.startswith(b"HTTP ") else len(out)
        print(f"{name:<28} {ms:>10.1f} {size:>10}")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build")
    b.add_argument("dir")
    b.add_argument("n", type=int)
    b.add_argument("bin")
    b.add_argument("--blob", type=int, default=1_500, help="bytes of raw mail per message")
    b.add_argument("--port", type=int, default=18_025)
    t = sub.add_parser("time")
    t.add_argument("dir")
    t.add_argument("bin")
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--month", default=time.strftime("%Y-%m", time.gmtime(time.time() - 180 * DAY)))
    t.add_argument("--show", type=int, default=5_000)
    t.add_argument("--skip", default="", help="commands left out, e.g. 'tickets list --json'")
    args = p.parse_args()
    build(args) if args.what == "build" else time_read_side(args)


if __name__ == "__main__":
    main()
