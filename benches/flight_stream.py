"""Streams a large result from `vtsql serve` through the ADBC Flight SQL driver, and reports rows/s and the
server's peak memory (it must not hold the result: batches go out as the client reads them).

    python benches/flight_stream.py DATA_DIR [--vtsql target/release/vtsql] [--sql "SELECT ..."]

Needs adbc-driver-flightsql and pyarrow (tests/python/requirements.txt).
"""

import argparse
import subprocess
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql


def vm_hwm(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--vtsql", default=str(Path(__file__).resolve().parents[1] / "target/release/vtsql"))
    p.add_argument("--sql", default="SELECT * FROM veilig_thuis")
    a = p.parse_args()
    server = subprocess.Popen([a.vtsql, "--data", a.data, "serve", "--bind", "127.0.0.1:0", "--token", "bench"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        uri = server.stdout.readline().strip()
        conn = flightsql.connect(uri, db_kwargs={"adbc.flight.sql.authorization_header": "Bearer bench"},
                                autocommit=True)
        cur = conn.cursor()
        idle = vm_hwm(server.pid)
        started = time.perf_counter()
        cur.execute(a.sql)
        reader = cur.fetch_record_batch()
        rows = batches = 0
        for batch in reader:
            rows += batch.num_rows
            batches += 1
        seconds = time.perf_counter() - started
        peak = vm_hwm(server.pid)
        print(f"{rows:,} rows in {batches} batches in {seconds:.2f} s: {rows / seconds / 1e6:.2f}M rows/s; "
              f"server peak RSS {peak / 2**20:.0f} MiB (idle {idle / 2**20:.0f} MiB)")
        cur.close()
        conn.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
