"""Reads a vtsql data directory with DuckDB (hive partitioning) and prints the seed figures as CSV.

Used by the integration test `ingest::duckdb_reads_the_same_numbers`: the Parquet vtsql writes (the one
stored form, `cbs_84851ned`) must be readable by other engines with the same answers as vtsql's
`veilig_thuis` view gives.
"""
import sys

import duckdb

data = sys.argv[1]
rows = duckdb.sql(
    f"""
    SELECT period, year, half, gestarte_adviezen, ontvangen_meldingen, afgeronde_diensten_onderzoek
    FROM read_parquet('{data}/current/cbs_84851ned/*/*/*.parquet', hive_partitioning = true)
    WHERE region_code = 'GM0141' AND kenmerken_adviezen_meldingen_diensten = 'Totaal'
    ORDER BY period
    """
).fetchall()
for row in rows:
    print(",".join("NULL" if v is None else str(v) for v in row))
