# %% [markdown]
# # vtsql from a notebook
#
# Start the server next to the data (in a terminal):
#
#     VTSQL_TOKEN=s3cret cargo run --release -- serve --bind 127.0.0.1:50051
#
# then run these cells (Jupyter and VS Code read the `# %%` markers). Needs
# `pip install adbc-driver-flightsql pyarrow pandas polars matplotlib`.

# %%
import os

import adbc_driver_flightsql.dbapi as flightsql
import polars as pl

URI = os.environ.get("VTSQL_URI", "grpc://127.0.0.1:50051")
TOKEN = os.environ.get("VTSQL_TOKEN", "s3cret")

# autocommit: the server is read-only and has no transactions to turn off
conn = flightsql.connect(URI, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {TOKEN}"}, autocommit=True)
cur = conn.cursor()

# %% [markdown]
# ## Meldingen per 100,000 inhabitants, per gemeente and half-year, into pandas

# %%
cur.execute("""
    SELECT v.region_code, v.region_name, v.period,
           v.ontvangen_meldingen,
           p.population,
           per_100k(v.ontvangen_meldingen, p.population) AS meldingen_per_100k
    FROM veilig_thuis v
    JOIN population p ON p.region_code = v.region_code AND p.year = v.year
    WHERE v.category = 'Totaal' AND v.region_level = 'gemeente'
    ORDER BY v.region_code, v.period
""")
per_100k = cur.fetch_arrow_table().to_pandas()
print(per_100k)

# %% [markdown]
# ## The same into polars, and a parameterised query (`?` placeholders)

# %%
cur.execute(
    """
    SELECT category, ontvangen_meldingen, gestarte_adviezen
    FROM veilig_thuis
    WHERE region_code = ? AND period = ? AND category_group <> 'Aanvullende informatie'
    ORDER BY ontvangen_meldingen DESC NULLS LAST
    """,
    ("GM0141", "2020H1"),
)
kinds = pl.from_arrow(cur.fetch_arrow_table())
print(kinds.head(10))

# Suppressed cells are NULL, never 0: a sum over them is an interval (ssum).
cur.execute("""
    SELECT period, ssum(ontvangen_meldingen) AS meldingen
    FROM veilig_thuis
    WHERE region_code = 'GM0141' AND category_group = 'Kindermishandeling' AND category <> 'Kindermishandeling'
    GROUP BY period ORDER BY period
""")
print(pl.from_arrow(cur.fetch_arrow_table()).unnest("meldingen"))

# %% [markdown]
# ## A plot

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3.5))
for region, rows in per_100k.groupby("region_name"):
    ax.plot(rows["period"], rows["meldingen_per_100k"], marker="o", label=region)
ax.set_ylabel("meldingen per 100,000")
ax.set_title("Veilig Thuis: received reports per 100,000 inhabitants")
ax.legend()
fig.tight_layout()
fig.savefig(os.environ.get("VTSQL_PLOT", "meldingen_per_100k.png"))

# %%
cur.close()
conn.close()
