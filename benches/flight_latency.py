"""Round trips of small queries through `vtsql serve` with the ADBC Flight SQL driver: a point lookup and a
prepared point lookup, each timed from execute to the last row, and the server's peak memory.

    python benches/flight_latency.py DATA_DIR [--vtsql target/release/vtsql] [--runs 200]

Needs adbc-driver-flightsql and pyarrow (tests/python/requirements.txt).
"""

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql


def vm_hwm(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def timed(run, runs):
    for _ in range(5):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--vtsql", default=str(Path(__file__).resolve().parents[1] / "target/release/vtsql"))
    p.add_argument("--runs", type=int, default=200)
    a = p.parse_args()
    server = subprocess.Popen([a.vtsql, "--data", a.data, "serve", "--bind", "127.0.0.1:0", "--token", "bench"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        uri = server.stdout.readline().strip()
        conn = flightsql.connect(uri, db_kwargs={"adbc.flight.sql.authorization_header": "Bearer bench"},
                                 autocommit=True)
        cur = conn.cursor()
        lookup = ("SELECT ontvangen_meldingen FROM veilig_thuis "
                  "WHERE region_code = 'GM0141' AND period = '2020H1' AND category = 'Totaal'")

        def point():
            cur.execute(lookup)
            cur.fetchall()

        def prepared():
            cur.execute("SELECT ontvangen_meldingen FROM veilig_thuis WHERE region_code = ? AND category = ?",
                        ("GM0141", "Totaal"))
            cur.fetchall()

        for name, run in [("point lookup", point), ("prepared point lookup", prepared)]:
            p50, p90 = timed(run, a.runs)
            print(f"{name:<24} p50 {p50:6.2f} ms   p90 {p90:6.2f} ms   ({a.runs} runs)")
        print(f"server peak memory {vm_hwm(server.pid) / 2**20:.0f} MiB")
        conn.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
