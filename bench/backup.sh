#!/usr/bin/env bash
# `semailctl mailbox backup` of a live mailbox against `tar czf` of the same
# Maildir, in the same run: one volume (image backend, ext4 on a loop
# device) holding N messages of realistic sizes (mostly 2-40 KB of text,
# one in eight with a base64 attachment of 50-600 KB), flagged and in
# folders as a real mailbox is. Runs alternate REPS times (a busy machine
# slows both alike); medians compared; the archives' sizes too. Only a
# private slapd is started (the mailbox's entry); no container is needed.
# The ratio is printed last (goal: within 1.2x of tar czf).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEMAILCTL:-$here/.build/debug/semailctl}
n=${N:-3000}
reps=${REPS:-5}
work=$(mktemp -d /tmp/semail-bench-bk.XXXXXX)
. "$here/bench/lib.sh"
bench_start_slapd "$work"
bench_storage_config vmail:5000:5000
ldapadd -x -H "$LDAP_URI" -D "$LDAP_ADMIN_DN" -y "$LDAP_SECRET" >/dev/null <<LDIF
dn: uid=bench,ou=Personnes,dc=semail,dc=email
objectClass: inetOrgPerson
objectClass: semailUser
uid: bench
cn: bench
sn: bench
semailMailbox: bench@bench.example
semailVolumeSize: 1073741824
LDIF
"$bin" volume create bench --size 1G --quiet >/dev/null
maildir="$work/mail/bench/Maildir"
python3 - "$maildir" "$n" <<'PY'
import base64, os, random, sys
maildir, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(17)
words = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by "
         "word but not what all were we when your can said there use an each which she do how their if will up other "
         "about out many then them these so some her would make like him into time has look two more write go see "
         "meeting report invoice project deadline attached please regards thanks budget review schedule").split()
folders = ["", ".Sent", ".Archives.2024", ".Lists.debian-devel"]
for f in folders[1:]:
    for s in ("tmp", "new", "cur"): os.makedirs(f"{maildir}/{f}/{s}", exist_ok=True)
    open(f"{maildir}/{f}/maildirfolder", "w").close()
for i in range(n):
    lines = [f"Return-Path: <sender{i % 97}@example.org>", f"From: Sender {i % 97} <sender{i % 97}@example.org>",
             "To: bench@bench.example", f"Subject: {' '.join(rnd.choices(words, k=6))}",
             f"Message-ID: <{i}.{rnd.getrandbits(48):x}@example.org>", "MIME-Version: 1.0", ""]
    size = int(rnd.lognormvariate(8.8, 0.8))  # median ~6.6 KB
    text = []
    while sum(len(l) + 1 for l in text) < min(size, 40000):
        text.append(" ".join(rnd.choices(words, k=rnd.randint(6, 14))))
    body = "\n".join(lines + text) + "\n"
    if i % 8 == 0:
        blob = base64.encodebytes(os.urandom(rnd.randint(50_000, 600_000))).decode()
        body += "\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" + blob
    folder = folders[0 if i % 10 < 7 else 1 + i % 3]
    base = f"{1700000000 + i}.M{i}P{4000 + i % 300}.mx.bench.example,S={len(body)}"
    sub, name = ("cur", base + ":2," + rnd.choice(["S", "RS", "FS", "S", ""])) if i % 5 else ("new", base)
    path = f"{maildir}/{folder}/{sub}/{name}" if folder else f"{maildir}/{sub}/{name}"
    with open(path, "w") as fh: fh.write(body)
    os.chown(path, 5000, 5000)
open(f"{maildir}/subscriptions", "w").write("Sent\nArchives.2024\nLists.debian-devel\n")
PY
chown -R 5000:5000 "$maildir"
du_bytes=$(du -sb "$maildir" | cut -f1)
out="$work/out"; mkdir -p "$out"
: > "$work/times"
for i in $(seq 1 "$reps"); do
  t0=$(date +%s.%N); tar czf "$out/tar-$i.tar.gz" -C "$work/mail/bench" Maildir
  t1=$(date +%s.%N); "$bin" mailbox backup bench --to "$out/backup-$i.tar" --quiet >/dev/null
  t2=$(date +%s.%N); tar cf "$out/plain-$i.tar" -C "$work/mail/bench" Maildir
  t3=$(date +%s.%N)
  echo "$t0 $t1 $t2 $(stat -c %s "$out/tar-$i.tar.gz") $(stat -c %s "$out/backup-$i.tar") $t3" >> "$work/times"
  rm -f "$out/tar-$i.tar.gz" "$out/backup-$i.tar" "$out/plain-$i.tar"
done
python3 - "$work/times" "$n" "$du_bytes" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
n, du = int(sys.argv[2]), int(sys.argv[3])
tar = statistics.median(b - a for a, b, *_ in rows)
bk = statistics.median(c - b for _, b, c, *_ in rows)
print(f"Maildir: {n} messages, {du / 1e6:.1f} MB; {len(rows)} alternating runs each, medians")
print(f"tar czf:          {tar:6.2f} s, archive {rows[0][3] / 1e6:7.1f} MB")
print(f"mailbox backup:   {bk:6.2f} s, archive {rows[0][4] / 1e6:7.1f} MB (read back and checked)")
plain = statistics.median(r[5] - r[2] for r in rows)
print(f"tar cf (for reference, no compression, not read back): {plain:6.2f} s")
print(f"ratio: backup {bk / tar:.2f}x the time of tar czf (goal <= 1.2x)")
PY
