"""Peak memory of `vtsql fetch` against a local stand-in of CBS open data that serves one synthetic table in
pages of a given size, for each API: what a page of 100,000 rows costs, and whether a table of many pages
costs more than one page (it should not: pages are parsed as a stream and written as received).

    python benches/fetch_memory.py target/release/vtsql [--rows 100000] [--page 100000]

The table has a dimension of 100 categories, 1,000 regions, years from 2000, and four topics (three counts
and a percentage; every seventh cell `.`); v3 serves rows (`UntypedDataSet`), v4 one observation per cell
(`Observations`). Needs only Python's standard library and /usr/bin/time.
"""

import argparse
import json
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

parser = argparse.ArgumentParser()
parser.add_argument("vtsql")
parser.add_argument("--rows", type=int, default=100_000, help="rows (v3) of the table")
parser.add_argument("--page", type=int, default=100_000, help="rows (v3) or observations (v4) per page")
args = parser.parse_args()

ID = "99999NED"
TOPICS = [("Meldingen_1", "Meldingen", "aantal", 0), ("Adviezen_2", "Adviezen", "aantal", 0),
          ("Casussen_3", "Casussen", "aantal", 0), ("Aandeel_4", "Aandeel", "%", 1)]
CATEGORIES, REGIONS = 100, 1000
YEARS = max(1, -(-args.rows // (CATEGORIES * REGIONS)))


def row(i):
    c, r, y = i % CATEGORIES, (i // CATEGORIES) % REGIONS, i // (CATEGORIES * REGIONS)
    values = [None if (i + k) % 7 == 0 else (i * 13 + k) % 5000 for k in range(3)]
    values.append(None if i % 7 == 3 else round((i % 1000) / 10, 1))
    return f"C{c:03d}", f"GM{r:04d}", f"{2000 + y}JJ00", values


def v3(path, skip):
    if path == "TableInfos":
        return [{"ID": 0, "Identifier": ID, "Title": "Synthetische tabel", "Modified": "2026-12-01T02:00:00",
                 "RecordCount": args.rows, "Period": f"2000 - {1999 + YEARS}"}]
    if path == "DataProperties":
        props = [{"ID": 0, "Type": "Dimension", "Key": "Soort", "Title": "Soort", "ParentID": None},
                 {"ID": 1, "Type": "GeoDimension", "Key": "RegioS", "Title": "Regio's", "ParentID": None},
                 {"ID": 2, "Type": "TimeDimension", "Key": "Perioden", "Title": "Perioden", "ParentID": None}]
        for i, (key, title, unit, decimals) in enumerate(TOPICS):
            props.append({"ID": 3 + i, "Type": "Topic", "Key": key, "Title": title, "Unit": unit,
                          "Decimals": decimals, "Datatype": "Double" if decimals else "Long", "ParentID": None})
        return props
    if path == "Soort":
        return [{"Key": f"C{c:03d}", "Title": f"Soort {c}", "CategoryGroupID": None} for c in range(CATEGORIES)]
    if path == "RegioS":
        return [{"Key": f"GM{r:04d}  ", "Title": f"Gemeente {r}", "CategoryGroupID": None} for r in range(REGIONS)]
    if path == "Perioden":
        return [{"Key": f"{2000 + y}JJ00", "Title": str(2000 + y), "Status": "Definitief"} for y in range(YEARS)]
    if path == "UntypedDataSet":
        out = []
        for i in range(skip, min(args.rows, skip + args.page)):
            c, r, p, values = row(i)
            o = {"ID": i, "Soort": c, "RegioS": r + "  ", "Perioden": p}
            for (key, _, _, _), v in zip(TOPICS, values):
                o[key] = "       ." if v is None else f"{v:>8}"
            out.append(o)
        return out
    return None


def v4(path, skip):
    if path == "Properties":
        return {"Identifier": ID, "Title": "Synthetische tabel", "Modified": "2026-12-01T02:00:00",
                "ObservationCount": args.rows * len(TOPICS), "DatasetType": "Numeric"}
    if path == "Dimensions":
        return [{"Identifier": "Soort", "Title": "Soort", "Kind": "Dimension"},
                {"Identifier": "RegioS", "Title": "Regio's", "Kind": "GeoDimension"},
                {"Identifier": "Perioden", "Title": "Perioden", "Kind": "TimeDimension"}]
    if path == "MeasureCodes":
        return [{"Identifier": key, "Title": title, "Unit": unit, "Decimals": decimals, "MeasureGroupId": None,
                 "DataType": "Double" if decimals else "Long"} for key, title, unit, decimals in TOPICS]
    if path == "SoortCodes":
        return [{"Identifier": f"C{c:03d}", "Title": f"Soort {c}", "DimensionGroupId": None} for c in range(CATEGORIES)]
    if path == "RegioSCodes":
        return [{"Identifier": f"GM{r:04d}", "Title": f"Gemeente {r}", "DimensionGroupId": None} for r in range(REGIONS)]
    if path == "PeriodenCodes":
        return [{"Identifier": f"{2000 + y}JJ00", "Title": str(2000 + y), "Status": "Definitief"} for y in range(YEARS)]
    if path == "Observations":
        out, total = [], args.rows * len(TOPICS)
        for n in range(skip, min(total, skip + args.page)):
            c, r, p, values = row(n // len(TOPICS))
            k = n % len(TOPICS)
            v = values[k]
            out.append({"Id": n, "Measure": TOPICS[k][0], "ValueAttribute": "None", "Value": v,
                        "StringValue": None if v is None else str(v), "Soort": c, "RegioS": r, "Perioden": p})
        return out
    return None


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        skip = int(parse_qs(url.query).get("$skip", ["0"])[0])
        parts = url.path.strip("/").split("/")
        api, path = parts[0], parts[-1]
        value = (v3 if api == "v3" else v4)(path, skip) if len(parts) == 3 and parts[1] == ID else None
        if value is None:
            self.send_response(404)
            self.end_headers()
            return
        if isinstance(value, dict):
            body = value
        else:
            body = {"value": value}
            total = args.rows if api == "v3" else args.rows * len(TOPICS)
            data_set = path in ("UntypedDataSet", "Observations")
            if data_set and skip + args.page < total:
                link = f"http://127.0.0.1:{self.server.server_port}{url.path}?$skip={skip + args.page}"
                body["odata.nextLink" if api == "v3" else "@odata.nextLink"] = link
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_port
def rss(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) >> 10
    except OSError:
        pass
    return 0


for api in ["v3", "v4"]:
    with tempfile.TemporaryDirectory() as data:
        # the download's peak (until the table's "downloaded" line) apart from the whole command's, which
        # includes the ingest that follows
        child = subprocess.Popen(["/usr/bin/time", "-f", "%M %e", args.vtsql, "--data", data, "fetch", ID,
                                  "--api", api, "--base-url", f"http://127.0.0.1:{port}/{api}"],
                                 stderr=subprocess.PIPE, text=True)
        lines, downloading, peak_download = [], True, 0
        vtsql_pid = None

        def sample():
            global peak_download, vtsql_pid
            while child.poll() is None and downloading:
                if vtsql_pid is None:
                    kids = open(f"/proc/{child.pid}/task/{child.pid}/children").read().split()
                    vtsql_pid = int(kids[0]) if kids else None
                elif downloading:
                    peak_download = max(peak_download, rss(vtsql_pid))
                threading.Event().wait(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for line in child.stderr:
            lines.append(line.rstrip())
            if "downloaded" in line:
                downloading = False
        downloading = False
        sampler.join()
        child.wait()
        peak_kib, seconds = lines[-1].split()
        pages = -(-(args.rows if api == "v3" else args.rows * len(TOPICS)) // args.page)
        stored = next((l for l in lines if l.startswith("cbs_")), lines[-2] if len(lines) > 1 else "")
        print(f"{api}: {args.rows} rows in {pages} page(s) of {args.page}: download peak {peak_download} MiB, "
              f"whole command (with ingest) {int(peak_kib) >> 10} MiB, {float(seconds):.1f} s, exit "
              f"{child.returncode}: {stored}")
server.shutdown()
