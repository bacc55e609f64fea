#!/usr/bin/env python3
"""Derives vtsql's built-in gazetteer (this folder's CSV files) and boundaries (../boundaries) from the public
CBS material in ../../../shared/data. Run from the repository: python3 data/gazetteer/derive.py. The output is
committed; see README.md here for what each file holds and where it comes from."""
import csv
import json
import pathlib
import shutil

here = pathlib.Path(__file__).resolve().parent
repo = here.parent.parent
shared = repo.parent / "shared" / "data"
boundaries = repo / "data" / "boundaries"

FIRST, LAST = 2019, 2025
LANDSDELEN = {"LD01": "Noord-Nederland", "LD02": "Oost-Nederland", "LD03": "West-Nederland", "LD04": "Zuid-Nederland"}
LANDSDEEL_OF = {"PV20": "LD01", "PV21": "LD01", "PV22": "LD01", "PV23": "LD02", "PV24": "LD02", "PV25": "LD02",
                "PV26": "LD03", "PV27": "LD03", "PV28": "LD03", "PV29": "LD03", "PV30": "LD04", "PV31": "LD04"}
PROVINCIES = {"PV20": "Groningen", "PV21": "Fryslân", "PV22": "Drenthe", "PV23": "Overijssel", "PV24": "Flevoland",
              "PV25": "Gelderland", "PV26": "Utrecht", "PV27": "Noord-Holland", "PV28": "Zuid-Holland",
              "PV29": "Zeeland", "PV30": "Noord-Brabant", "PV31": "Limburg"}
# Herindelingen 2019-2025 (DOMAIN.md; every one shows in the yearly gemeente layers): the date, and per
# old gemeente its new one(s) with the share of its inhabitants that went there.
WEESP_INTO_AMSTERDAM = "2022-03-24"


def read_csv(path, delimiter=","):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def write_csv(name, header, rows):
    with open(here / name, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{name}: {len(rows)} rows")


# Gemeenten per year, from the gemeente layers (vt-membership, one row per gemeente and year 2020-2025).
layers = read_csv(shared / "cbs/vt-membership/vt_membership_2020_2025.csv")
per_year = {}
for r in layers:
    per_year.setdefault(int(r["year"]), {})[r["gm_code"]] = r
per_year[2019] = per_year[2020]  # no herindeling on 1 January 2020: 355 gemeenten both years

# Provincie per gemeente: Gebieden in Nederland 2020, the 2022 list, and a new gemeente's predecessors'.
provincie = {r["municipalityCode"]: r["provinceCode"] for r in read_csv(
    next((shared / "cbs/gebieden-2020").glob("*.csv")), ";") if (r["municipalityCode"] or "").startswith("GM")}
for r in read_csv(shared / "cbs/population-70072ned/municipalities_alphabetically_2022.csv", ";"):
    provincie[r["MunicipalCodeGM"]] = r["ProvincialCodePV"]
provincie.setdefault("GM1992", provincie["GM0501"])  # Voorne aan Zee, of Brielle, Hellevoetsluis, Westvoorne

# The name of each gemeente: the latest layer's (CBS's own, with `(O.)`, `(NH.)` where names repeat);
# earlier spellings are former names.
latest_year = {}
for year in range(FIRST, LAST + 1):
    for code in per_year[year]:
        latest_year[code] = year
names = {code: per_year[year][code]["gm_name"] for code, year in latest_year.items()}
former = {code: sorted({per_year[y][code]["gm_name"] for y in range(FIRST, LAST + 1) if code in per_year[y]}
                       - {names[code]}) for code in names}

# Herindelingen, from the codes that end and begin between two years' layers.
changes = []  # (date, old, new, share)
for year in range(2021, LAST + 1):
    gone = set(per_year[year - 1]) - set(per_year[year])
    for old in sorted(gone):
        date = WEESP_INTO_AMSTERDAM if old == "GM0457" else f"{year}-01-01"
        changes.append((date, old, None, None))
# successors: the gemeente whose polygon holds the old one (by the membership's naming of the merger)
MERGERS = {
    "GM0003": "GM1979", "GM0010": "GM1979", "GM0024": "GM1979",  # Eemsdelta
    "GM0398": "GM1980", "GM0416": "GM1980",  # Dijk en Waard
    "GM0756": "GM1982", "GM0786": "GM1982", "GM0815": "GM1982", "GM1684": "GM1982", "GM1702": "GM1982",  # Land van Cuijk
    "GM0856": "GM1991", "GM1685": "GM1991",  # Maashorst
    "GM0370": "GM0439",  # Beemster into Purmerend
    "GM0457": "GM0363",  # Weesp into Amsterdam
    "GM0501": "GM1992", "GM0530": "GM1992", "GM0614": "GM1992",  # Voorne aan Zee
}
# Haaren (GM0788) was split on 1 January 2021. Its villages went to Oisterwijk (Haaren), Vught (Helvoirt),
# Boxtel (Esch) and Tilburg (Biezenmortel). The share of its inhabitants each received is estimated from
# 70072ned: a successor's gain between 1 January 2020 and 2021 less its own growth the year after; Tilburg,
# whose own growth is larger than Biezenmortel, receives the rest.
population_rows = read_csv(next((shared / "cbs/population-70072ned").glob("Regionale_kerncijfers*.csv")), ";")
people = {}
for r in population_rows:
    value = r["Bevolking/Bevolkingssamenstelling op 1 januari/Totale bevolking (aantal)"].strip()
    if value:
        people[(r["Regio's"], int(r["Perioden"]))] = int(value)
haaren = people[("Haaren", 2020)]
gain = {name: people[(name, 2021)] - people[(name, 2020)] - (people[(name, 2022)] - people[(name, 2021)])
        for name in ["Boxtel", "Oisterwijk", "Vught"]}
gain["Tilburg"] = haaren - sum(gain.values())
HAAREN = {"Boxtel": "GM0757", "Oisterwijk": "GM0824", "Tilburg": "GM0855", "Vught": "GM0865"}
resolved = []
for date, old, _, _ in changes:
    if old == "GM0788":
        for name, code in HAAREN.items():
            resolved.append((date, old, code, round(gain[name] / haaren, 4)))
    else:
        resolved.append((date, old, MERGERS[old], 1.0))
assert abs(sum(s for _, o, _, s in resolved if o == "GM0788") - 1) < 1e-3
write_csv("region_changes.csv", ["date", "old_code", "new_code", "share"],
          [(d, o, n, f"{s:.4f}") for d, o, n, s in resolved])

# Validity: from the first of January of the first year (the gazetteer knows nothing before 2019) or of the
# year a gemeente began, until the day it ended.
ended = {}
for date, old, _, _ in resolved:
    ended[old] = date
valid_from = {code: f"{min(y for y in range(FIRST, LAST + 1) if code in per_year[y])}-01-01" for code in names}

regions = []
regions.append(("NL01", "Nederland", "land", "", "", "", "", f"{FIRST}-01-01", ""))
for code, name in LANDSDELEN.items():
    regions.append((code, name, "landsdeel", "", "", "", "", f"{FIRST}-01-01", ""))
for code, name in PROVINCIES.items():
    regions.append((code, name, "provincie", "", LANDSDEEL_OF[code], "", "Friesland" if code == "PV21" else "",
                    f"{FIRST}-01-01", ""))
vt_years = {}
for r in layers:
    vt_years.setdefault(r["vt_code"], {})[int(r["year"])] = r["vt_name"]
for code, years in vt_years.items():
    if 2020 in years:
        years[2019] = years[2020]
for code in sorted(vt_years):
    years = vt_years[code]
    first, last = min(years), max(years)
    latest = years[last]
    earlier = sorted({n for n in years.values() if n != latest})
    regions.append((code, latest, "vt_regio", "", "", "", "|".join(earlier), f"{first}-01-01",
                    f"{last + 1}-01-01" if last < LAST else ""))
for code in sorted(names):
    pv = provincie[code]
    regions.append((code, names[code], "gemeente", pv, LANDSDEEL_OF[pv], per_year[latest_year[code]][code]["vt_code"],
                    "|".join(former[code]), valid_from[code], ended.get(code, "")))
write_csv("regions.csv", ["region_code", "region_name", "region_level", "provincie_code", "landsdeel_code",
                          "vt_regio_code", "former_names", "valid_from", "valid_to"], regions)

# Names per year: every region's name in each year it existed.
region_names = []
for year in range(FIRST, LAST + 1):
    for code, years in sorted(vt_years.items()):
        if year in years:
            region_names.append((year, code, years[year]))
    for code in sorted(per_year[year]):
        region_names.append((year, code, per_year[year][code]["gm_name"]))
write_csv("region_names.csv", ["year", "region_code", "region_name"], region_names)

# Membership per year.
membership = []
for year in range(FIRST, LAST + 1):
    for code in sorted(per_year[year]):
        pv = provincie[code]
        membership.append((year, code, per_year[year][code]["vt_code"], pv, LANDSDEEL_OF[pv]))
write_csv("region_membership.csv", ["year", "gm_code", "vt_regio_code", "provincie_code", "landsdeel_code"],
          membership)

# Population on 1 January: gemeenten from 70072ned (2020-2023, by name), Gebieden in Nederland 2020 and
# population-2019-2025 (2019, 2024, 2025, by code), and every
# VT-regio, provincie, landsdeel and Nederland as the sum of its gemeenten by that year's membership.
def code_of(name, year):
    candidates = [c for c, r in per_year[year].items() if name in (r["gm_name"], names[c])]
    if not candidates:
        base = name.split(" (")[0]
        candidates = [c for c, r in per_year[year].items() if base == r["gm_name"]]
    return candidates[0] if len(candidates) == 1 else None


population = {}
unmatched = []
for (name, year), value in people.items():
    code = code_of(name, year)
    if code is None:
        unmatched.append((name, year))
    else:
        population[(code, year)] = value
for r in read_csv(next((shared / "cbs/gebieden-2020").glob("*.csv")), ";"):
    if (r["municipalityCode"] or "").startswith("GM"):
        assert population.get((r["municipalityCode"], 2020), int(r["population"])) == int(r["population"])
        population[(r["municipalityCode"], 2020)] = int(r["population"])
assert not unmatched, unmatched
# 2019, 2024 and 2025 by code (population-2019-2025: 70072ned for 2019 and 2025, 85984NED for 2024), each year's
# Nederland row the published national figure, which the gemeenten must sum to.
national = {}
for path in sorted((shared / "cbs/population-2019-2025").glob("population_*.csv")):
    for r in read_csv(path):
        code, year, value = r["region_code"], int(r["year"]), int(r["population"])
        if code == "NL01":
            national[year] = value
        else:
            assert code in per_year[year], (code, year)
            population[(code, year)] = value
years = sorted({y for _, y in population})
for year in years:
    assert sum(1 for c, y in population if y == year) == len(per_year[year]), year
    totals = {}
    for code, r in per_year[year].items():
        pv = provincie[code]
        for region in (r["vt_code"], pv, LANDSDEEL_OF[pv], "NL01"):
            totals[region] = totals.get(region, 0) + population[(code, year)]
    for region, total in totals.items():
        population[(region, year)] = total
    assert national.get(year, totals["NL01"]) == totals["NL01"], (year, national.get(year), totals["NL01"])
write_csv("population.csv", ["region_code", "year", "population"],
          sorted((c, y, p) for (c, y), p in population.items()))

# Boundaries for maps: the gemeente and VT-regio layers, as they are.
boundaries.mkdir(exist_ok=True)
for year in range(2020, LAST + 1):
    for layer in ("gemeente", "veiligthuisregio"):
        name = f"{layer}_{year}.topojson"
        shutil.copyfile(shared / "cartomap/wgs84" / name, boundaries / name)
        json.loads((boundaries / name).read_text())
print("boundaries:", len(list(boundaries.glob("*.topojson"))), "files")
