"""Hostile statements against a release `vtsql serve` under a memory limit and a deadline (issue 28): for each,
when the client has its answer, when the server's planning threads (`vtsql-plan`) are gone, and the server's
peak RSS while it ran (the peak is reset before each statement).

    python benches/hostile_statements.py target/release/vtsql DATA_DIR

Environment: LIMIT (default 64M) and TIMEOUT (seconds, default 2) for `serve`; ONLY, a regular expression of
the statement names to run. Needs adbc-driver-flightsql (tests/python/requirements.txt) and Linux's /proc.
"""

import os
import re
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi as flightsql

BIN, DATA = sys.argv[1], sys.argv[2]
LIMIT, TIMEOUT = os.environ.get("LIMIT", "64M"), os.environ.get("TIMEOUT", "2")
ONLY = os.environ.get("ONLY")


def status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024


def plan_threads(pid):
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            n += open(f"/proc/{pid}/task/{t}/comm").read().strip() == "vtsql-plan"
        except OSError:
            pass
    return n


def statements():
    r = "repeat('x', 50000000)"
    enc = r
    for _ in range(7):
        enc = f"encode({enc}, 'hex')"
    wide = "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(100))
    yield "repeat alone", f"SELECT length({r})"
    yield "encode chain", f"SELECT length({enc})"
    yield "concat_ws over repeat", f"SELECT length(concat_ws(',', {', '.join([r] * 40)}))"
    yield "make_array", f"SELECT cardinality(make_array({', '.join([r] * 40)}))"
    yield "||", f"SELECT length({' || '.join([r] * 40)})"
    yield "GROUP BY 2000 expressions", "SELECT count(*) FROM regions GROUP BY " + ", ".join(
        f"region_code || '{i}'" for i in range(2000))
    yield "GROUP BY 20000 expressions", "SELECT count(*) FROM regions GROUP BY " + ", ".join(
        f"region_code || '{i}'" for i in range(20000))
    yield "1000 CTEs", "WITH " + ", ".join(f"c{i} AS (SELECT {i} AS x)" for i in range(1000)) + " SELECT count(*) FROM c999"
    yield "5000 CTEs", "WITH " + ", ".join(f"c{i} AS (SELECT {i} AS x)" for i in range(5000)) + " SELECT count(*) FROM c4999"
    joins = lambda n, t, key: f"SELECT count(*) FROM {t} r0 " + " ".join(
        f"JOIN {t} r{i} ON r{i}.{key} = r{i - 1}.{key}" for i in range(1, n + 1))
    yield "50 joins of regions", joins(50, "regions", "region_code")
    yield "50 joins of 100 columns", joins(50, f"({wide})", "c1")
    yield "500 joins", joins(499, "regions", "region_code")
    yield "2000 joins", joins(1999, "regions", "region_code")
    yield "500 UNION ALL", " UNION ALL ".join(["SELECT 1 AS a"] * 500)
    yield "5000 UNION ALL", " UNION ALL ".join(["SELECT 1 AS a"] * 5000)
    yield "slow constants", "SELECT " + ", ".join(
        f"length(encode(sha512(repeat('x', {2000000 + i})), 'hex'))" for i in range(1500))


server = subprocess.Popen([BIN, "--data", DATA, "serve", "--bind", "127.0.0.1:0", "--memory-limit", LIMIT,
                           "--query-timeout", TIMEOUT], stderr=subprocess.PIPE, text=True)
uri = re.search(r"grpc://\S+", server.stderr.readline()).group(0)
pid = server.pid
print(f"server RSS {status(pid, 'VmRSS') >> 20} MiB, --memory-limit {LIMIT} --query-timeout {TIMEOUT}")
conn = flightsql.connect(uri)
worst = 0
for name, sql in statements():
    if ONLY and not re.search(ONLY, name):
        continue
    before = status(pid, "VmRSS")
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets the peak (VmHWM) to the current RSS
    started = time.monotonic()
    cur = conn.cursor()
    try:
        cur.execute(sql)
        cur.fetchall()
        outcome = "answered"
    except Exception as e:
        outcome = str(e).splitlines()[0][:110]
    finally:
        cur.close()
    answered = time.monotonic() - started
    while plan_threads(pid) > 0 and time.monotonic() - started < 120:
        time.sleep(0.01)
    stopped = time.monotonic() - started
    peak = status(pid, "VmHWM")
    worst = max(worst, peak)
    print(f"{name:27} answer {answered:5.2f} s, planning over {stopped:6.2f} s, "
          f"peak {peak >> 20:4d} MiB (from {before >> 20}): {outcome}")
print(f"peak over all: {worst >> 20} MiB")
conn.close()
server.terminate()
server.wait()
