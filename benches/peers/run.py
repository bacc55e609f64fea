"""vtsql against DuckDB, datafusion-python and Polars on the same Parquet files, in the same run.

    python benches/peers/run.py DATA_DIR [--runs 5] [--vtsql target/release/vtsql] [--markdown FILE]

Every engine runs the plain-SQL form of each query in benches/queries/ (vtsql also runs the form with its
own functions); all engines must return the same rows. Per query and engine: one warm-up run, then the
median of --runs runs, each fetching the whole result as Arrow; the peak resident memory of the engine's
process during the timed runs (Linux, VmHWM after clear_refs). Each query runs in a process of its own for
each engine (vtsql included), so a peak belongs to that query alone, and all engines run a query back to
back before the next query starts: the VM's speed drifts by a fifth within a minute, and a ratio should
compare timings taken seconds apart. --shared-process runs all queries of an engine in one process instead.

--foreign runs the same queries over files vtsql did not write: `veilig_thuis` rewritten once by pyarrow into
DATA/foreign/veilig_thuis/year=Y/half=H/part-0.parquet (zstd, pyarrow's default row groups, rows in the order a generator
makes them: period, region, category), which vtsql reads through `CREATE EXTERNAL TABLE ... PARTITIONED BY
(year, half)` (`vtsql bench --setup`) and the peers through their own Parquet readers with hive partitions.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

QUERIES = Path(__file__).resolve().parent.parent / "queries"
ENGINES = ["duckdb", "datafusion", "polars"]


def suite():
    """(name, plain SQL file) for every query, in order."""
    out = []
    for f in sorted(QUERIES.glob("*.sql")):
        if f.name.endswith(".plain.sql"):
            continue
        plain = f.with_name(f.name[: -len(".sql")] + ".plain.sql")
        out.append((f.name[: -len(".sql")], plain if plain.exists() else f))
    return out


def reset_peak():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_bytes():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def normalise(rows):
    """Rows as tuples of text: integers as integers, floats to 6 decimals, NULL as None; sorted."""
    def cell(v):
        if isinstance(v, Decimal):  # DuckDB sums integers into HUGEINT, which arrives as a decimal
            v = int(v) if v == v.to_integral_value() else float(v)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            return f"{round(v, 6):.6f}"
        return str(v)
    return sorted((tuple(cell(v) for v in row) for row in rows), key=lambda r: tuple((x is None, x or "") for x in r))


def same_cell(x, y):
    if x == y:
        return True
    try:
        a, b = float(x), float(y)
    except (TypeError, ValueError):
        return False
    # the queries round to 6 decimals, and engines round a final 5 differently
    return abs(a - b) <= 2e-6 * max(1.0, abs(a))


def same_rows(theirs, want):
    return len(theirs) == len(want) and all(
        len(x) == len(y) and all(same_cell(a, b) for a, b in zip(x, y)) for x, y in zip(theirs, want))


# veilig_thuis as vtsql defines it over the one stored table (src/catalog/veilig_thuis.rs): its columns under
# their names; category_group is left out, as no query reads it.
VEILIG_THUIS = """SELECT source_table, period, provisional, region_level, region_code, region_name,
    kenmerken_adviezen_meldingen_diensten AS category, gestarte_adviezen, ontvangen_meldingen,
    casussen_met_ontvangen_meldingen AS casussen_met_melding, afgeronde_diensten_onderzoek AS afgeronde_onderzoeken,
    afgeronde_diensten_voorwaarden_en_vervolg AS afgeronde_voorwaarden_vervolg, suppressed_cells, year, half
    FROM cbs_84851ned"""
DIMENSIONS = ["regions", "population", "region_membership"]


def tables_dir(data):
    """The current generation of the tables (data/README.md), resolved once: a run reads one generation."""
    root = Path(data).resolve()
    return (root / "current").resolve() if (root / "current").exists() else root


def foreign_dir(data):
    """Where the foreign copy of veilig_thuis is (only its Parquet files: a reader takes anything else in the
    directory for a file of the table); its marker and vtsql's setup are one level up."""
    return Path(data).resolve() / "foreign" / "veilig_thuis"


def write_foreign(data):
    """veilig_thuis rewritten as a user's files look (see --foreign), unless already written."""
    out = foreign_dir(data)
    if (out.parent / "COMPLETE").exists():
        return out
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    d = tables_dir(data)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"CREATE VIEW cbs_84851ned AS SELECT * FROM read_parquet('{d}/cbs_84851ned/*/*/*.parquet', "
                "hive_partitioning = true, hive_types = {'year': INTEGER, 'half': INTEGER})")
    con.execute(f"CREATE VIEW veilig_thuis AS {VEILIG_THUIS}")
    # DuckDB sorts within a bound (spilling to disk past it) and hands the rows over in batches, which are
    # written in row groups of pyarrow's default 1,048,576 rows: the same files `pq.write_table` of the whole
    # partition writes, without holding a partition (50M rows at 1B) in memory
    con.execute("SET memory_limit = '6GB'")
    group = 1024 * 1024
    for year, half in con.execute("SELECT DISTINCT year, half FROM veilig_thuis ORDER BY 1, 2").fetchall():
        rows = con.sql(f"SELECT * EXCLUDE (year, half) FROM veilig_thuis WHERE year = {year} AND half = {half} "
                       "ORDER BY region_code, category").to_arrow_reader(group)
        part = out / f"year={year}" / f"half={half}"
        part.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(part / "part-0.parquet", rows.schema, compression="zstd") as writer:
            pending = []  # tables of fewer than `group` rows together
            for batch in rows:
                pending.append(pa.Table.from_batches([batch]))
                table = pa.concat_tables(pending)
                while table.num_rows >= group:
                    writer.write_table(table.slice(0, group).combine_chunks(), row_group_size=group)
                    table = table.slice(group)
                pending = [table] if table.num_rows else []
            if pending:
                writer.write_table(pa.concat_tables(pending).combine_chunks(), row_group_size=group)
    (out.parent / "COMPLETE").write_text("")
    return out


def open_engine(name, data, foreign):
    d = tables_dir(data)
    facts = f"{d}/cbs_84851ned/*/*/*.parquet"
    theirs = f"{foreign_dir(data)}/*/*/*.parquet"
    if name == "duckdb":
        import duckdb
        con = duckdb.connect()
        if foreign:
            con.execute(f"CREATE VIEW veilig_thuis AS SELECT * FROM read_parquet('{theirs}', hive_partitioning = true)")
        else:
            con.execute(f"CREATE VIEW cbs_84851ned AS SELECT * FROM read_parquet('{facts}', hive_partitioning = true, "
                        "hive_types = {'year': INTEGER, 'half': INTEGER})")
            con.execute(f"CREATE VIEW veilig_thuis AS {VEILIG_THUIS}")
        for t in DIMENSIONS:
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{d}/{t}.parquet')")
        return lambda sql: con.execute(sql).to_arrow_table()
    if name == "datafusion":
        import datafusion
        import pyarrow as pa
        ctx = datafusion.SessionContext()
        partitions = [("year", pa.int32()), ("half", pa.int32())]
        if foreign:
            ctx.register_parquet("veilig_thuis", f"{foreign_dir(data)}/", file_extension=".parquet",
                                 table_partition_cols=partitions)
        else:
            ctx.register_parquet("cbs_84851ned", f"{d}/cbs_84851ned/", file_extension=".parquet",
                                 table_partition_cols=partitions)
            ctx.sql(f"CREATE VIEW veilig_thuis AS {VEILIG_THUIS}").collect()
        for t in DIMENSIONS:
            ctx.register_parquet(t, f"{d}/{t}.parquet")
        return lambda sql: ctx.sql(sql).to_arrow_table()
    if name == "polars":
        import polars as pl
        ctx = pl.SQLContext(**{t: pl.scan_parquet(f"{d}/{t}.parquet") for t in DIMENSIONS})
        if foreign:
            ctx.register("veilig_thuis", pl.scan_parquet(f"{foreign_dir(data)}/**/*.parquet", hive_partitioning=True))
        else:
            ctx.register("cbs_84851ned", pl.scan_parquet(f"{d}/cbs_84851ned/**/*.parquet", hive_partitioning=True))
            ctx.register("veilig_thuis", ctx.execute(VEILIG_THUIS))
        return lambda sql: ctx.execute(sql, eager=True).to_arrow()
    raise SystemExit(f"unknown engine {name}")


def vtsql_setup(data):
    """The statements that make vtsql read the foreign files as `veilig_thuis`, in a file for --setup / -f."""
    path = foreign_dir(data).parent / "setup.sql"
    path.write_text("DROP VIEW veilig_thuis;\n"
                    f"CREATE EXTERNAL TABLE veilig_thuis STORED AS PARQUET LOCATION '{foreign_dir(data)}/' "
                    "PARTITIONED BY (year, half);\n")
    return path


def run_engine(name, data, runs, only=None, foreign=False):
    """In a child process: time every query (or only `only`); one JSON line each on stdout."""
    run = open_engine(name, data, foreign)
    for query, file in suite():
        if only and query != only:
            continue
        sql = file.read_text()
        out = {"engine": name, "query": query}
        try:
            table = run(sql)  # warm-up, and the answer to check
            out["rows"] = table.num_rows
            out["answer"] = normalise(tuple(r.values()) for r in table.to_pylist())
            measured = reset_peak()
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                run(sql)
                times.append((time.perf_counter() - started) * 1000)
            out["median_ms"] = statistics.median(times)
            out["peak_bytes"] = peak_bytes() if measured else None
        except Exception as e:  # noqa: BLE001 - an engine that cannot run a query is reported, not fatal
            out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        print(json.dumps(out), flush=True)


def vtsql_answers(binary, data, setup):
    answers = {}
    for query, file in suite():
        first = ["-f", str(setup)] if setup else []
        res = subprocess.run([binary, "--data", data, "--format", "json"] + first + ["-f", str(file)],
                             capture_output=True, text=True, check=True)
        rows = json.loads(res.stdout or "[]")
        answers[query] = normalise(tuple(r.get(k) for k in r) for r in rows) if rows else []
    return answers


def vtsql_process_ms(binary, data, file, setup, runs):
    """Median wall time of a whole `vtsql -f QUERY` process (start-up, first planning and scan, printing as
    CSV to /dev/null): what a script or `-c` pays, against the warm in-session time of `vtsql bench`."""
    first = ["-f", str(setup)] if setup else []
    args = [binary, "--data", data, "--format", "csv"] + first + ["-f", str(file)]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def vtsql_timings(binary, data, runs, plain, queries, setup):
    """Timings of `queries` ((name, plain file) pairs), a process each; of the whole suite in one process if None."""
    base = [binary, "--data", data, "bench", "--runs", str(runs)] + (["--plain"] if plain else []) \
        + (["--setup", str(setup)] if setup else [])
    calls = [base + [str(f if plain else QUERIES / f"{q}.sql")] for q, f in queries] if queries else [base]
    out = {}
    for args in calls:
        res = subprocess.run(args, capture_output=True, text=True, check=True)
        out.update({t["query"]: t for t in map(json.loads, res.stdout.splitlines())})
    return out


def peer_timings(engine, data, runs, queries, foreign):
    """As vtsql_timings, for a peer engine; None if the engine failed."""
    base = [sys.executable, __file__, data, "--runs", str(runs), "--engine", engine] + (["--foreign"] if foreign else [])
    calls = [base + ["--query", q] for q, _ in queries] if queries else [base]
    out = {}
    for args in calls:
        res = subprocess.run(args, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{engine} failed:\n{res.stderr}", file=sys.stderr)
            return None
        out.update({r["query"]: r for r in map(json.loads, res.stdout.splitlines())})
    return out


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal")), 0)
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, {platform.system()} {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--vtsql", default=str(Path(__file__).resolve().parents[2] / "target/release/vtsql"))
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--markdown", help="also write the table to this file")
    p.add_argument("--shared-process", action="store_true",
                   help="run all queries of an engine in one process (peaks then include earlier queries)")
    p.add_argument("--foreign", action="store_true",
                   help="query files vtsql did not write (veilig_thuis rewritten by pyarrow into DATA/foreign/veilig_thuis)")
    p.add_argument("--engine", help=argparse.SUPPRESS)
    p.add_argument("--query", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.engine:
        return run_engine(a.engine, a.data, a.runs, a.query, a.foreign)
    isolated = not a.shared_process
    setup = None
    if a.foreign:
        write_foreign(a.data)
        setup = vtsql_setup(a.data)

    rows_total = json.loads(subprocess.run([a.vtsql, "--data", a.data, "--format", "json", "-c",
                                            "SELECT count(*) AS n FROM veilig_thuis"],
                                           capture_output=True, text=True, check=True).stdout)[0]["n"]
    ours, ours_plain, failed = {}, {}, set()
    peers = {engine: {} for engine in a.engines.split(",")}
    for queries in ([[q] for q in suite()] if isolated else [None]):
        ours.update(vtsql_timings(a.vtsql, a.data, a.runs, False, queries, setup))
        for q, f in (queries or suite()):
            ours[q]["process_ms"] = vtsql_process_ms(a.vtsql, a.data, QUERIES / f"{q}.sql", setup, a.runs)
        ours_plain.update(vtsql_timings(a.vtsql, a.data, a.runs, True, queries, setup))
        for engine in peers:
            timings = None if engine in failed else peer_timings(engine, a.data, a.runs, queries, a.foreign)
            if timings is None:
                failed.add(engine)
            else:
                peers[engine].update(timings)
    peers = {engine: timings for engine, timings in peers.items() if engine not in failed}
    answers = vtsql_answers(a.vtsql, a.data, setup)

    engines = list(peers)
    head = ["query", "rows", "vtsql ms", "vtsql plain ms", "vtsql -f ms (whole process)"] + [f"{e} ms" for e in engines] \
        + [f"vtsql/{e}" for e in engines] + ["peak MiB vtsql"] + [f"peak MiB {e}" for e in engines] + ["same rows"]
    where = "each query in its own process, all engines back to back" if isolated else "each engine in one process"
    if a.foreign:
        where += "; files vtsql did not write (pyarrow, zstd, default row groups, generation order)"
    lines = [f"{rows_total:,} rows in veilig_thuis; {machine()}; median of {a.runs} runs after a warm-up; {where}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ratios = {e: [] for e in engines}
    mismatches = []
    for query, _ in suite():
        ours_ms = ours[query]["median_ms"]
        cells = [query, str(ours[query]["rows"]), f"{ours_ms:.1f}", f"{ours_plain[query]['median_ms']:.1f}",
                 f"{ours[query]['process_ms']:.1f}"]
        ratio_cells, peak_cells, same = [], [], []
        for e in engines:
            r = peers[e].get(query, {})
            if "error" in r or "median_ms" not in r:
                cells.append("n/a")
                ratio_cells.append("n/a")
                peak_cells.append("n/a")
                same.append(f"{e}: {r.get('error', 'missing')}")
                continue
            cells.append(f"{r['median_ms']:.1f}")
            ratio = ours_ms / r["median_ms"]
            ratios[e].append(ratio)
            ratio_cells.append(f"{ratio:.2f}")
            peak_cells.append(f"{r['peak_bytes'] / 2**20:.0f}" if r.get("peak_bytes") else "n/a")
            theirs, want = [list(x) for x in r["answer"]], [list(x) for x in answers[query]]
            if not same_rows(theirs, want):
                same.append(f"{e} differs")
                first = next((i for i, (x, y) in enumerate(zip(theirs, want)) if not same_rows([x], [y])),
                             min(len(theirs), len(want)))
                mismatches.append((query, e, len(theirs), len(want),
                                   theirs[first] if first < len(theirs) else None, want[first] if first < len(want) else None))
        peak = ours[query].get("peak_bytes")
        cells += ratio_cells + [f"{peak / 2**20:.0f}" if peak else "n/a"] + peak_cells
        cells.append("yes" if not same else "; ".join(same))
        lines.append("| " + " | ".join(cells) + " |")
    for e in engines:
        if ratios[e]:
            geo = math.exp(sum(map(math.log, ratios[e])) / len(ratios[e]))
            lines.append(f"\ngeometric mean vtsql/{e}: {geo:.2f} over {len(ratios[e])} queries")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text + "\n")
    if mismatches:
        print(f"\nDIFFERENT ANSWERS: {mismatches}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
