"""Runs the records of vtsql's .slt files in DuckDB, over the same tables, and prints DuckDB's answers.

Used by the integration check `slt::duckdb_agrees_with_every_record_it_can_run`: an expectation written from
vtsql's own answer is checked by an engine that shares no code with it. Input (standard input, JSON):
{"tables": {"name": "path/to/name.parquet", ...}, "files": [{"file": "seed.slt", "records": [{"kind":
"statement"|"query", "sql": "..."}]}]}. Output (standard output, JSON): per file, per query record in order,
{"rows": [[cell, ...], ...]} with every cell as vtsql prints it, or {"error": "..."} where DuckDB cannot run it.
Statements run in order before the queries after them; one that DuckDB cannot run is left out.
"""
import datetime
import decimal
import json
import math
import sys

import duckdb


def cell(value):
    """A value as vtsql (Arrow's display) prints it: NULL, true/false, 12.5, [a, b], {k: v}."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == int(value) and abs(value) < 1e16:
            return f"{int(value)}.0"
        return repr(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {cell(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if text else "(empty)"


def main():
    job = json.load(sys.stdin)
    out = []
    for slt in job["files"]:
        con = duckdb.connect()
        for name, path in job["tables"].items():
            con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{path}')")
        answers = []
        for record in slt["records"]:
            try:
                rows = con.execute(record["sql"]).fetchall()
            except Exception as e:  # noqa: BLE001 (DuckDB raises many kinds)
                if record["kind"] == "query":
                    answers.append({"error": str(e).splitlines()[0]})
                continue
            if record["kind"] == "query":
                answers.append({"rows": [[cell(v) for v in row] for row in rows]})
        out.append(answers)
        con.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
