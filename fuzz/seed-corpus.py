#!/usr/bin/env python3
"""Seeds each fuzz target's corpus (fuzz/corpus/TARGET) from real files: the shared CBS files and seeds, the
shipped raw inputs, and the benchmark queries (as Flight SQL commands). Run from the repository: python3
fuzz/seed-corpus.py"""
import pathlib

repo = pathlib.Path(__file__).resolve().parent.parent
shared = repo.parent / "shared"
corpus = repo / "fuzz" / "corpus"


def put(target, name, data):
    directory = corpus / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def command(name, body):
    url = f"type.googleapis.com/arrow.flight.protocol.sql.{name}".encode()
    return field(1, url) + field(2, body)


texts = [repo / "data/raw/84851NED_almelo_2020H1.txt", *sorted((shared / "seeds").glob("*.txt"))]
for path in texts:
    put("statline_text", path.name, path.read_bytes())
csvs = [*sorted((repo / "data/raw").glob("*.csv")), *sorted((shared / "data/cbs").rglob("*.csv"))]
for path in csvs:
    data = path.read_bytes()
    put("statline_csv", path.name, data[:200_000])
for label in ["2020H1", "2020h2", "2020HJ01", "2023JJ00", "2023*", "2021**", "1e halfjaar 2020*", "2e halfjaar 2019", "2020"]:
    put("period", label.replace(" ", "_").replace("*", "s"), label.encode())
for path in sorted((repo / "benches/queries").glob("*.sql")):
    sql = path.read_text().encode()
    put("flight_request", path.stem + ".query", command("CommandStatementQuery", field(1, sql)))
    put("flight_request", path.stem + ".prepare", command("ActionCreatePreparedStatementRequest", field(1, sql)))
    put("flight_request", path.stem + ".ticket", command("TicketStatementQuery", field(1, sql)))
for path in sorted((repo / "data/boundaries").glob("*_2025.topojson")):
    put("topojson", path.name, path.read_bytes())
put("flight_request", "tables", command("CommandGetTables", field(3, b"vt%") + field(2, b"pub_ic")))
put("flight_request", "schemas", command("CommandGetDbSchemas", field(2, b"%")))
odata = repo / "tests/data/odata-v3"
sets = ["TableInfos", "DataProperties", "Veiligheidsbeoordeling", "RegioS", "Perioden", "UntypedDataSet"]
for i, s in enumerate(sets):
    put("odata", s, bytes([i]) + (odata / s / "page-00001.json").read_bytes())
for s in sets:
    put("fetch_page", s, (odata / s / "page-00001.json").read_bytes())
put("fetch_page", "v3-next", b'{"odata.metadata":"x","value":[{"ID":0}],"odata.nextLink":"https://opendata.cbs.nl/ODataFeed/odata/84852NED/UntypedDataSet?$skip=10000"}')
put("fetch_page", "v4-next", b'{"@odata.context":"x","value":[{"Id":0,"Value":1.0}],"@odata.nextLink":"https://datasets.cbs.nl/odata/v1/CBS/84852NED/Observations?$skip=10000"}')
# statements near the bounds the server checks before parsing (nesting, set operations, joins, list items)
hostile = {
    "union-chain": " UNION ALL ".join(["SELECT 1 AS a"] * 40),
    "joins": "SELECT count(*) FROM regions r0 " + " ".join(f"JOIN regions r{i} ON r{i}.region_code = r{i-1}.region_code" for i in range(1, 12)),
    "nested": "SELECT " + "(" * 60 + "1" + ")" * 60,
    "arithmetic": "SELECT " + "+".join(["1"] * 200),
    "ctes": "WITH " + ", ".join(f"c{i} AS (SELECT {i} AS x)" for i in range(30)) + " SELECT count(*) FROM c29",
}
for name, sql in hostile.items():
    put("flight_request", name + ".query", command("CommandStatementQuery", field(1, sql.encode())))
for target in sorted(p.name for p in corpus.iterdir()):
    print(target, len(list((corpus / target).iterdir())), "seeds")
