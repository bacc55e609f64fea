//! The tables of a data directory besides the `cbs_<id>` tables (`crate::ingest::cbs::table`): their names,
//! where they live, their Arrow schemas, the order their rows are stored in and their keys. Ingest and the
//! generator write them, the catalog reads them; both take the shape from here, so a reader never borrows it
//! from a writer.
//!
//! ```text
//! DATA/regions.parquet  DATA/population.parquet  DATA/region_membership.parquet (generated data only)
//! ```
//!
//! `veilig_thuis` and `categories` are stored nowhere: the first is a view over `cbs_84851ned` (and the
//! VT-regio rows only 84850NED has), the second follows from that table's hierarchy of categories.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// One table of a data directory.
#[derive(Debug)]
pub struct Table {
    /// The SQL name.
    pub name: &'static str,
    /// Where it lives, relative to the data directory: a file, or the directory of a partitioned table.
    pub path: &'static str,
    /// The order of its rows in every file (declared in the Parquet metadata).
    pub sort: &'static [&'static str],
    /// Columns that identify a row, if any: ingest and the generator keep one row per key, and the catalog
    /// declares the key after checking it.
    pub primary_key: &'static [&'static str],
    pub columns: fn() -> Vec<Field>,
}

impl Table {
    /// The columns stored in its files (partition columns live in directory names, see [`PARTITIONS`]).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new((self.columns)()))
    }
}

/// The five counts of the Veilig Thuis core tables, in column order.
pub const MEASURES: [&str; 5] = [
    "gestarte_adviezen",
    "ontvangen_meldingen",
    "casussen_met_melding",
    "afgeronde_onderzoeken",
    "afgeronde_voorwaarden_vervolg",
];

/// `veilig_thuis`: one row per source table × region × category × period; a view over `cbs_84851ned` (whose
/// files are sorted by region level, category, region code and period: a filter on a level and a kind of
/// violence is one run of small pages that the page index finds).
pub const FACTS: Table = Table { name: "veilig_thuis", path: "", sort: &[], primary_key: &[], columns: fact_columns };

/// The partition columns of every `cbs_<id>` table, read from its directory names (`year=2020/half=1`).
pub const PARTITIONS: [(&str, DataType); 2] = [("year", DataType::Int32), ("half", DataType::Int32)];

pub const REGIONS: Table = Table {
    name: "regions",
    path: "regions.parquet",
    sort: &["region_level", "region_code"],
    primary_key: &["region_code"],
    columns: region_columns,
};

pub const POPULATION: Table = Table {
    name: "population",
    path: "population.parquet",
    sort: &["region_code", "year"],
    primary_key: &["region_code", "year"],
    columns: population_columns,
};

/// `categories`: the kinds of violence of `veilig_thuis` with their hierarchy (built from the stored
/// `cbs_84851ned`'s, else vtsql's fallback list).
pub const CATEGORIES: Table =
    Table { name: "categories", path: "", sort: &[], primary_key: &["category"], columns: category_columns };

/// `cbs_catalog`: the tables of CBS's catalogue as the last `vtsql fetch --list` or `--search` listed them
/// (every table, not only the matches; empty before the first).
pub const CBS_CATALOG: Table = Table {
    name: "cbs_catalog",
    path: "cbs_catalog.parquet",
    sort: &["catalog", "table_id"],
    primary_key: &["catalog", "table_id"],
    columns: catalog_columns,
};

/// The tables each one Parquet file that ingest writes.
pub const DIMENSIONS: [&Table; 3] = [&REGIONS, &POPULATION, &CBS_CATALOG];

/// `region_membership`: where each gemeente belonged each year (built in: the gazetteer's; a data directory of
/// generated regions stores its own, which takes its place).
pub const REGION_MEMBERSHIP: Table = Table {
    name: "region_membership",
    path: "region_membership.parquet",
    sort: &["year", "gm_code"],
    primary_key: &["year", "gm_code"],
    columns: membership_columns,
};

/// `region_changes`: the herindelingen (built in).
pub const REGION_CHANGES: Table = Table {
    name: "region_changes",
    path: "",
    sort: &["date", "old_code", "new_code"],
    primary_key: &["old_code", "new_code"],
    columns: change_columns,
};

/// `region_successors`: for every gemeente code and year, the gemeenten that hold its territory then (built in).
pub const REGION_SUCCESSORS: Table = Table {
    name: "region_successors",
    path: "",
    sort: &["region_code", "year", "successor_code"],
    primary_key: &["region_code", "year", "successor_code"],
    columns: successor_columns,
};

/// `region_names`: every region's name in each year it existed (built in).
pub const REGION_NAMES: Table = Table {
    name: "region_names",
    path: "",
    sort: &["year", "region_code"],
    primary_key: &["year", "region_code"],
    columns: name_columns,
};

/// The tables vtsql builds from its gazetteer, in every data directory.
pub const BUILT_IN: [&Table; 4] = [&REGION_MEMBERSHIP, &REGION_CHANGES, &REGION_SUCCESSORS, &REGION_NAMES];

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn fact_columns() -> Vec<Field> {
    let mut fields = vec![
        text("source_table", false),
        text("period", false),
        Field::new("provisional", DataType::Boolean, false),
        text("region_level", false),
        text("region_code", false),
        text("region_name", false),
        text("category", false),
        text("category_group", false),
    ];
    fields.extend(MEASURES.iter().map(|m| Field::new(*m, DataType::Int64, true)));
    fields.push(Field::new("suppressed_cells", DataType::Int32, false));
    fields
}

fn region_columns() -> Vec<Field> {
    vec![
        text("region_code", false),
        text("region_name", false),
        text("region_level", false),
        text("provincie_code", true),
        text("landsdeel_code", true),
        text("vt_regio_code", true),
        text("former_names", true),
        Field::new("valid_from", DataType::Date32, true),
        Field::new("valid_to", DataType::Date32, true),
    ]
}

fn membership_columns() -> Vec<Field> {
    vec![
        Field::new("year", DataType::Int32, false),
        text("gm_code", false),
        text("vt_regio_code", true),
        text("provincie_code", true),
        text("landsdeel_code", true),
    ]
}

fn change_columns() -> Vec<Field> {
    vec![
        Field::new("date", DataType::Date32, false),
        text("old_code", false),
        text("new_code", false),
        Field::new("share", DataType::Float64, false),
    ]
}

fn successor_columns() -> Vec<Field> {
    vec![
        text("region_code", false),
        Field::new("year", DataType::Int32, false),
        text("successor_code", false),
        Field::new("share", DataType::Float64, false),
        Field::new("estimate", DataType::Boolean, false),
    ]
}

fn name_columns() -> Vec<Field> {
    vec![Field::new("year", DataType::Int32, false), text("region_code", false), text("region_name", false)]
}

fn catalog_columns() -> Vec<Field> {
    vec![
        text("table_id", false),
        text("title", false),
        text("periods", true),
        text("modified", true),
        Field::new("size", DataType::Int64, true),
        text("status", true),
        text("catalog", false),
        text("listed_by", false),
    ]
}

fn population_columns() -> Vec<Field> {
    vec![
        text("region_code", false),
        Field::new("year", DataType::Int32, false),
        Field::new("population", DataType::Int64, false),
    ]
}

fn category_columns() -> Vec<Field> {
    vec![
        text("category", false),
        text("category_group", false),
        text("parent", true),
        text("category_kind", true),
        Field::new("sort_order", DataType::Int32, false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_orders_and_keys_name_columns_of_their_table() {
        for table in [&FACTS, &CATEGORIES].into_iter().chain(DIMENSIONS).chain(BUILT_IN) {
            let schema = table.schema();
            for column in table.sort.iter().chain(table.primary_key) {
                assert!(schema.index_of(column).is_ok(), "{}: no column {column}", table.name);
            }
        }
    }
}
