"""Reads a vtsql data directory with DuckDB (hive partitioning) and prints the seed figures as CSV.

Used by the integration test `ingest::duckdb_reads_the_same_numbers`: the Parquet vtsql writes
must be readable by other engines with the same answers.
"""
import sys

import duckdb

data = sys.argv[1]
rows = duckdb.sql(
    f"""
    SELECT period, year, half, gestarte_adviezen, ontvangen_meldingen, afgeronde_onderzoeken
    FROM read_parquet('{data}/veilig_thuis/*/*/*.parquet', hive_partitioning = true)
    WHERE region_code = 'GM0141' AND category = 'Totaal'
    ORDER BY period
    """
).fetchall()
for row in rows:
    print(",".join("NULL" if v is None else str(v) for v in row))
