"""Real Flight SQL clients against a running `vtsql serve` (started by tests/flight.rs).

    flight_client.py URI TOKEN VTSQL_BINARY DATA_DIR

Each check prints `ok NAME` or `FAILED NAME: reason`; the exit status is 1 if any failed. The answers are
compared with what `vtsql -c` prints for the same SQL on the same data directory.
"""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pandas
import polars
import pyarrow

URI, TOKEN, VTSQL, DATA = sys.argv[1:5]

PER_100K = """
SELECT v.region_code, v.period, v.ontvangen_meldingen, p.population,
       per_100k(v.ontvangen_meldingen, p.population) AS meldingen_per_100k
FROM veilig_thuis v
JOIN population p ON p.region_code = v.region_code AND p.year = v.year
WHERE v.category = 'Totaal' AND v.region_level = 'gemeente'
ORDER BY v.region_code, v.period
"""


def connect(token=TOKEN):
    kwargs = {}
    if token is not None:
        kwargs["adbc.flight.sql.authorization_header"] = f"Bearer {token}"
    return flightsql.connect(URI, db_kwargs=kwargs, autocommit=True)


def query(sql, params=None, token=TOKEN):
    with connect(token) as conn, conn.cursor() as cur:
        if params is None:
            cur.execute(sql)
        else:
            cur.execute(sql, params)
        return cur.fetch_arrow_table()


def repl_rows(sql):
    """The same SQL through `vtsql -c`, as JSON lines."""
    out = subprocess.run(
        [VTSQL, "--data", DATA, "--format", "jsonl", "-c", sql], capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12)
    return a == b


def assert_rows_equal(table, rows):
    got = table.to_pylist()
    assert len(got) == len(rows), f"{len(got)} rows over Flight SQL, {len(rows)} from vtsql -c"
    for i, (g, w) in enumerate(zip(got, rows)):
        # vtsql -c leaves NULL out of JSON objects, as arrow's JSON writer does
        for key in g:
            assert same_value(g[key], w.get(key)), f"row {i} column {key}: {g[key]!r} vs {w.get(key)!r}"


def refused(sql, *words, token=TOKEN):
    try:
        query(sql, token=token)
    except adbc_driver_manager.Error as e:
        text = str(e).lower()
        assert any(w in text for w in words), f"{sql!r} failed, but the message does not say why: {e}"
        return str(e)
    raise AssertionError(f"{sql!r} was not refused")


def check_per_100k_equals_repl():
    table = query(PER_100K)
    assert table.num_rows > 0, "no rows"
    assert_rows_equal(table, repl_rows(PER_100K))
    df = table.to_pandas()
    almelo = df[(df.region_code == "GM0141") & (df.period == "2020H1")]
    assert len(almelo) == 1 and round(float(almelo.meldingen_per_100k.iloc[0]), 2) == 335.13, almelo


def check_schema_is_what_was_announced():
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT region_code, ssum(ontvangen_meldingen) AS s, hy_start(period) AS d FROM veilig_thuis "
                    "WHERE category = 'Totaal' GROUP BY region_code, period")
        announced = cur.description
        table = cur.fetch_arrow_table()
    assert [d[0] for d in announced] == table.schema.names
    assert pyarrow.types.is_struct(table.schema.field("s").type), table.schema
    assert table.schema.field("d").type == pyarrow.date32(), table.schema
    assert table.schema.field("region_code").type == pyarrow.string(), table.schema


def check_parameters():
    sql = ("SELECT region_code, period, ontvangen_meldingen FROM veilig_thuis "
           "WHERE region_code = ? AND period = ? AND category = 'Totaal'")
    table = query(sql, ("GM0141", "2020H1"))
    assert table.to_pylist() == [{"region_code": "GM0141", "period": "2020H1", "ontvangen_meldingen": 245}], table
    # the same statement, prepared once and run with other values
    with connect() as conn, conn.cursor() as cur:
        for period, want in [("2020H2", 250), ("2021H1", 255), ("1999H1", None)]:
            cur.execute(sql, ("GM0141", period))
            rows = cur.fetchall()
            assert rows == ([("GM0141", period, want)] if want else []), (period, rows)
        cur.execute("SELECT hy_add(?, ?) AS later", ("2020H1", 3))
        assert cur.fetchone() == ("2021H2",)


def check_pandas_and_polars():
    with connect() as conn:
        pdf = pandas.read_sql(PER_100K, conn) if hasattr(pandas, "read_sql") else None
        pldf = polars.read_database(PER_100K, connection=conn)
    table = query(PER_100K)
    assert pdf is not None and len(pdf) == table.num_rows, pdf
    assert pldf.height == table.num_rows and pldf.columns == table.schema.names, pldf
    assert polars.from_arrow(table).equals(pldf)


def check_get_objects():
    with connect() as conn:
        objects = conn.adbc_get_objects().read_all().to_pylist()
    tables = {}
    for catalog in objects:
        for schema in catalog["catalog_db_schemas"] or []:
            for t in schema["db_schema_tables"] or []:
                tables[(catalog["catalog_name"], schema["db_schema_name"], t["table_name"])] = t
    for name in ["veilig_thuis", "regions", "population", "categories"]:
        assert ("vtsql", "public", name) in tables, sorted(tables)
    facts = tables[("vtsql", "public", "veilig_thuis")]
    columns = [c["column_name"] for c in facts["table_columns"]]
    for column in ["region_code", "period", "ontvangen_meldingen", "year", "half"]:
        assert column in columns, columns
    # veilig_thuis is a view over cbs_84851ned, the table that holds the figures
    assert facts["table_type"] == "VIEW", facts["table_type"]
    assert tables[("vtsql", "public", "cbs_84851ned")]["table_type"] == "TABLE"
    with connect() as conn:
        filtered = conn.adbc_get_objects(depth="tables", table_name_filter="pop%").read_all().to_pylist()
    names = [t["table_name"] for c in filtered for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []]
    assert names == ["population"], names
    with connect() as conn:
        schema = conn.adbc_get_table_schema("veilig_thuis", catalog_filter="vtsql", db_schema_filter="public")
        types = conn.adbc_get_table_types()
    assert schema.field("region_code").type == pyarrow.string(), schema
    assert "TABLE" in types and "VIEW" in types, types


def check_get_info():
    with connect() as conn:
        info = conn.adbc_get_info()
    assert info["vendor_name"] == "vtsql", info
    assert info.get("vendor_version"), info
    assert info.get("vendor_arrow_version"), info


def check_wrong_or_missing_token_is_refused():
    refused("SELECT 1", "unauthenticated", "invalid bearer token", token="not-the-token")
    refused("SELECT 1", "unauthenticated", "missing authorization", token=None)


def check_writes_and_files_are_refused():
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "DROP TABLE regions",
        "INSERT INTO regions (region_code) VALUES ('x')",
        "COPY (SELECT 1) TO '/tmp/vtsql-flight-test.csv'",
        "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
    ]:
        refused(sql, "read-only")
    assert not os.path.exists("/tmp/vtsql-flight-test.csv")
    refused("SELECT * FROM '/etc/passwd'", "not found", "no table")
    refused("SELECT * FROM read_csv('/etc/passwd')", "not found", "invalid function", "no function")
    refused("SELECT 1; SELECT 2", "single sql statement", "one statement", "only supports a single")


def check_concurrent_clients():
    expected = {p: r["ontvangen_meldingen"] for r in repl_rows(
        "SELECT period, ontvangen_meldingen FROM veilig_thuis WHERE region_code = 'GM0141' AND category = 'Totaal'"
    ) for p in [r["period"]]}
    errors = []

    def client(n):
        try:
            with connect() as conn, conn.cursor() as cur:
                for i in range(50):
                    period = sorted(expected)[(n + i) % len(expected)]
                    cur.execute("SELECT ontvangen_meldingen + ? AS m FROM veilig_thuis WHERE region_code = 'GM0141' "
                                "AND category = 'Totaal' AND period = ?", (i, period))
                    got = cur.fetchall()
                    if got != [(expected[period] + i,)]:
                        errors.append(f"client {n} query {i}: {got} != {expected[period] + i}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]


KILLED_CLIENT = """
import sys, adbc_driver_flightsql.dbapi as f
conn = f.connect(sys.argv[1], db_kwargs={"adbc.flight.sql.authorization_header": "Bearer " + sys.argv[2]},
                 autocommit=True)
cur = conn.cursor()
cur.execute("SELECT a.value AS a, b.value AS b FROM generate_series(1, 100000) a, generate_series(1, 100000) b")
reader = cur.fetch_record_batch()
reader.read_next_batch()
print("streaming", flush=True)
sys.stdin.read()
"""


def check_killed_client_leaves_server_healthy():
    child = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, URI, TOKEN], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "streaming", f"the client did not start streaming: {line!r}"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    time.sleep(0.5)
    table = query("SELECT count(*) AS n FROM veilig_thuis")
    assert table.column("n")[0].as_py() > 0
    assert_rows_equal(query(PER_100K), repl_rows(PER_100K))


CHECKS = [v for k, v in sorted(globals().items()) if k.startswith("check_")]

if __name__ == "__main__":
    only = os.environ.get("VTSQL_FLIGHT_CHECK")
    failed = 0
    for check in CHECKS:
        name = check.__name__[len("check_"):]
        if only and only not in name:
            continue
        try:
            check()
            print(f"ok {name}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"FAILED {name}: {traceback.format_exc()}", flush=True)
    sys.exit(1 if failed else 0)
