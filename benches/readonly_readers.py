"""Readers during killed commits (issue 28): a `vtsql serve` on a read-only bind mount of a data directory and
one on the directory itself answer a query over two half-years that every ingest run writes with the same
figures, while runs into the directory are killed at each commit step (VTSQL_FAILPOINT) and at random moments.
An answer whose two sums differ mixes two runs; a failed query is one a commit broke.

    sudo python benches/readonly_readers.py target/release/vtsql .

Environment: RUNS (default 45). Needs root (mount --bind, remount ro) and adbc-driver-flightsql.
"""

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql

BIN, REPO = sys.argv[1], sys.argv[2]
RUNS = int(os.environ.get("RUNS", "45"))
tmp = tempfile.mkdtemp(prefix="vtsql-readers-")
data, ro = os.path.join(tmp, "data"), os.path.join(tmp, "ro")
raw = os.path.join(REPO, "data/raw")
subprocess.run([BIN, "--data", data, "ingest", *[os.path.join(raw, f) for f in sorted(os.listdir(raw))]],
               check=True, capture_output=True)
os.makedirs(ro)
subprocess.run(["mount", "--bind", data, ro], check=True)
subprocess.run(["mount", "-o", "remount,ro,bind", ro], check=True)
seed = open(os.path.join(raw, "84851NED_almelo_2020H1.txt")).read()


def derived(name, label, m):
    """The shipped export with its Almelo half-year relabelled and every count times m."""
    out = []
    for line in seed.splitlines():
        if " Almelo 1e halfjaar 2020* " in line:
            head, cells = line.split(" Almelo 1e halfjaar 2020* ", 1)
            cells = [str(int(c) * m) if c.lstrip("-").isdigit() else c for c in cells.split(" ")]
            line = f"{head} Almelo {label} {' '.join(cells)}"
        out.append(line)
    path = os.path.join(tmp, name)
    open(path, "w").write("\n".join(out) + "\n")
    return path


SQL = ("SELECT sum(ontvangen_meldingen) FILTER (WHERE period = '2030H1'), "
       "sum(ontvangen_meldingen) FILTER (WHERE period = '2030H2'), count(*) FROM veilig_thuis")
servers = {}
for name, directory in [("read-only mount", ro), ("writable path", data)]:
    p = subprocess.Popen([BIN, "--data", directory, "serve", "--bind", "127.0.0.1:0"], stderr=subprocess.PIPE,
                         text=True)
    servers[name] = (p, re.search(r"grpc://\S+", p.stderr.readline()).group(0))
stop = threading.Event()
results = {name: {"answers": [], "failed": []} for name in servers}


def reader(name, uri):
    conn = flightsql.connect(uri)
    while not stop.is_set():
        cur = conn.cursor()
        try:
            cur.execute(SQL)
            results[name]["answers"].append(tuple(cur.fetchall()[0]))
        except Exception as e:
            results[name]["failed"].append(str(e).splitlines()[0][:200])
        finally:
            cur.close()
    conn.close()


threads = [threading.Thread(target=reader, args=(n, u)) for n, (_, u) in servers.items()]
for t in threads:
    t.start()
kills = 0
for i in range(RUNS):
    files = [derived(f"h1-{i}.txt", "1e halfjaar 2030", i + 2), derived(f"h2-{i}.txt", "2e halfjaar 2030", i + 2)]
    env = dict(os.environ)
    if i % 3 == 0:
        env["VTSQL_FAILPOINT"] = f"commit:{(i // 3) % 3}"
    child = subprocess.Popen([BIN, "--data", data, "ingest", *files], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    if i % 3 == 1:
        time.sleep(random.uniform(0.005, 0.08))
        child.kill()
    kills += child.wait() != 0
time.sleep(0.5)
stop.set()
for t in threads:
    t.join()
for name, (p, _) in servers.items():
    r = results[name]
    mixed = [a for a in r["answers"] if a[0] != a[1]]
    states = len({a[0] for a in r["answers"]})
    print(f"{name:16} {len(r['answers'])} answers, {len(mixed)} mixed, {states} states, "
          f"{len(r['failed'])} failed {r['failed'][:2]}")
    p.terminate()
    p.wait()
print(f"{RUNS} ingest runs, {kills} killed")
subprocess.run(["umount", ro])
shutil.rmtree(tmp)
