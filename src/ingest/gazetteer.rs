//! The built-in gazetteer (`vtsql_udfs::gazetteer`) as the tables every data directory has:
//! `region_membership`, `region_changes`, `region_successors` and `region_names`, and the regions and
//! population a data directory starts from before anything is ingested.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::error::Result;
use vtsql_udfs::gazetteer::{FIRST_YEAR, LAST_YEAR, day_number, gazetteer};

use super::dimensions::Population;
use crate::schema;

fn text(values: impl IntoIterator<Item = impl AsRef<str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// `region_membership`: where each gemeente belonged each year.
pub fn membership() -> Result<RecordBatch> {
    let rows = &gazetteer().membership;
    RecordBatch::try_new(
        schema::REGION_MEMBERSHIP.schema(),
        vec![
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|m| m.year))),
            text(rows.iter().map(|m| m.gm_code)),
            text(rows.iter().map(|m| m.vt_regio_code)),
            text(rows.iter().map(|m| m.provincie_code)),
            text(rows.iter().map(|m| m.landsdeel_code)),
        ],
    )
}

/// `region_changes`: the herindelingen.
pub fn changes() -> Result<RecordBatch> {
    let rows = &gazetteer().changes;
    RecordBatch::try_new(
        schema::REGION_CHANGES.schema(),
        vec![
            Arc::new(rows.iter().map(|c| day_number(c.date)).collect::<Date32Array>()),
            text(rows.iter().map(|c| c.old_code)),
            text(rows.iter().map(|c| c.new_code)),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|c| c.share))),
        ],
    )
}

/// `region_successors`: for every gemeente code of the gazetteer and every year it covers, the gemeenten
/// holding its territory on 1 January, with their shares; `estimate` where the territory was divided.
pub fn successors() -> Result<RecordBatch> {
    let g = gazetteer();
    let mut rows: Vec<(&str, i32, &str, f64)> = Vec::new();
    for region in g.regions.iter().filter(|r| r.level == "gemeente") {
        for year in FIRST_YEAR..=LAST_YEAR {
            for (successor, share) in g.successors(region.code, year) {
                rows.push((region.code, year, successor, share));
            }
        }
    }
    RecordBatch::try_new(
        schema::REGION_SUCCESSORS.schema(),
        vec![
            text(rows.iter().map(|r| r.0)),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
            text(rows.iter().map(|r| r.2)),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(rows.iter().map(|r| Some(r.3 < 1.0)).collect::<BooleanArray>()),
        ],
    )
}

/// `region_names`: every region's name in each year it existed.
pub fn names() -> Result<RecordBatch> {
    let rows = &gazetteer().names;
    RecordBatch::try_new(
        schema::REGION_NAMES.schema(),
        vec![
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))),
            text(rows.iter().map(|r| r.1)),
            text(rows.iter().map(|r| r.2)),
        ],
    )
}

/// The population of every gemeente, VT-regio, provincie, landsdeel and Nederland on 1 January of each
/// year the gazetteer has figures for.
pub fn population() -> Vec<Population> {
    gazetteer()
        .population
        .iter()
        .map(|&(code, year, people)| Population { region_code: code.to_string(), year, population: people })
        .collect()
}

/// What makes a built-in table's rows.
pub type Rows = fn() -> Result<RecordBatch>;

/// Each built-in table with what makes its rows.
pub fn tables() -> [(&'static schema::Table, Rows); 4] {
    [
        (&schema::REGION_MEMBERSHIP, membership),
        (&schema::REGION_CHANGES, changes),
        (&schema::REGION_SUCCESSORS, successors),
        (&schema::REGION_NAMES, names),
    ]
}
