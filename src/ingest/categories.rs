//! The kind-of-violence dimension (*aard van het geweld, aanvullende informatie*) of 84850NED and
//! 84851NED as vtsql knows it without CBS's metadata: a fallback for StatLine downloads, which carry no
//! hierarchy and cut long labels short (`Mishandeling kind: emotionele mish...`). What CBS serves (OData v3
//! `CategoryGroups`, v4 `<Dimension>Groups`) takes its place once a table is fetched.
//!
//! Also the table `categories`, derived from whichever hierarchy a stored table has. Kinds are **not
//! additive**: one melding can name several kinds, so subtypes sum to more than their group and groups to
//! more than `Totaal`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};

use crate::ingest::cbs::model::{self, Dimension, Group};
use crate::schema;

/// What a category is within the dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryKind {
    /// `Totaal`: all adviezen or meldingen.
    Totaal,
    /// A top-level kind of violence (`Kindermishandeling`, `(Ex-)Partnergeweld`, ...).
    Hoofdvorm,
    /// A subtype of a top-level kind (`Partnergeweld: stalking`).
    Subvorm,
    /// Additional information on the case (`Conflictscheiding`, `Politie: ...`), not a kind.
    Aanvullend,
}

impl CategoryKind {
    /// The name stored in the `categories` table.
    pub fn as_str(self) -> &'static str {
        match self {
            CategoryKind::Totaal => "totaal",
            CategoryKind::Hoofdvorm => "hoofdvorm",
            CategoryKind::Subvorm => "subvorm",
            CategoryKind::Aanvullend => "aanvullend",
        }
    }
}

/// One category of the kind-of-violence dimension.
#[derive(Debug, PartialEq, Eq)]
pub struct Category {
    /// Full name, stored in `veilig_thuis.category`.
    pub name: &'static str,
    /// The group it belongs to: the top-level kind, `Totaal` or `Aanvullende informatie`.
    pub group: &'static str,
    /// The category it refines, if any.
    pub parent: Option<&'static str>,
    /// Its place in the hierarchy.
    pub kind: CategoryKind,
}

const KM: &str = "Kindermishandeling";
const GTO: &str = "Geweld tegen ouders";
const PG: &str = "(Ex-)Partnergeweld";
const OM: &str = "Ouderenmishandeling (ouder dan 65 jaar)";
const HGO: &str = "Huiselijk geweld overig";
const AI: &str = "Aanvullende informatie";

macro_rules! cat {
    ($name:expr, $group:expr, $parent:expr, $kind:ident) => {
        Category { name: $name, group: $group, parent: $parent, kind: CategoryKind::$kind }
    };
}

/// Every category in StatLine order. Where StatLine's own full title is not known, the name is the
/// longest label seen (`Andere problematiek`), so that no text is invented.
pub static CATEGORIES: &[Category] = &[
    cat!("Totaal", "Totaal", None, Totaal),
    cat!(KM, KM, Some("Totaal"), Hoofdvorm),
    cat!(GTO, GTO, Some("Totaal"), Hoofdvorm),
    cat!(PG, PG, Some("Totaal"), Hoofdvorm),
    cat!(OM, OM, Some("Totaal"), Hoofdvorm),
    cat!(HGO, HGO, Some("Totaal"), Hoofdvorm),
    cat!("Andere problematiek", "Andere problematiek", Some("Totaal"), Hoofdvorm),
    cat!(
        "Geen kindermishandeling/huiselijk geweld",
        "Geen kindermishandeling/huiselijk geweld",
        Some("Totaal"),
        Hoofdvorm
    ),
    cat!("Onbekend", "Onbekend", Some("Totaal"), Hoofdvorm),
    cat!("Mishandeling kind: fysiek", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: verwaarlozing", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: emotionele mishandeling", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: emotionele verwaarlozing", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: seksueel misbruik", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: getuige van geweld", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: PCF", KM, Some(KM), Subvorm),
    cat!("Mishandeling kind: anders", KM, Some(KM), Subvorm),
    cat!("Geweld tegen ouders: fysiek", GTO, Some(GTO), Subvorm),
    cat!("Geweld tegen ouders: emotionele mishandeling", GTO, Some(GTO), Subvorm),
    cat!("Geweld tegen ouders: seksueel misbruik", GTO, Some(GTO), Subvorm),
    cat!("Geweld tegen ouders: financieel", GTO, Some(GTO), Subvorm),
    cat!("Geweld tegen ouders: anders", GTO, Some(GTO), Subvorm),
    cat!("Partnergeweld: fysiek", PG, Some(PG), Subvorm),
    cat!("Partnergeweld: emotionele mishandeling", PG, Some(PG), Subvorm),
    cat!("Partnergeweld: seksueel misbruik", PG, Some(PG), Subvorm),
    cat!("Partnergeweld: stalking", PG, Some(PG), Subvorm),
    cat!("Partnergeweld: financieel", PG, Some(PG), Subvorm),
    cat!("Partnergeweld: anders", PG, Some(PG), Subvorm),
    cat!("Ouderenmishandeling: fysiek", OM, Some(OM), Subvorm),
    cat!("Ouderenmishandeling: verwaarlozing", OM, Some(OM), Subvorm),
    cat!("Ouderenmishandeling: emotionele mishandeling", OM, Some(OM), Subvorm),
    cat!("Ouderenmishandeling: seksueel misbruik", OM, Some(OM), Subvorm),
    cat!("Ouderenmishandeling: financieel", OM, Some(OM), Subvorm),
    cat!("Ouderenmishandeling: anders", OM, Some(OM), Subvorm),
    cat!("Ov. huiselijk geweld: fysiek", HGO, Some(HGO), Subvorm),
    cat!("Ov. huiselijk geweld: verwaarlozing", HGO, Some(HGO), Subvorm),
    cat!("Ov. huiselijk geweld: emotionele mishandeling", HGO, Some(HGO), Subvorm),
    cat!("Ov. huiselijk geweld: emotionele verwaarlozing", HGO, Some(HGO), Subvorm),
    cat!("Ov. huiselijk geweld: seksueel misbruik", HGO, Some(HGO), Subvorm),
    cat!("Ov. huiselijk geweld: financieel", HGO, Some(HGO), Subvorm),
    cat!("Ov. huiselijk geweld: anders", HGO, Some(HGO), Subvorm),
    cat!("Conflictscheiding", AI, None, Aanvullend),
    cat!("Ontspoorde mantelzorg", AI, None, Aanvullend),
    cat!("Eergerelateerd geweld", AI, None, Aanvullend),
    cat!("Huwelijksdwang", AI, None, Aanvullend),
    cat!("Achterlating", AI, None, Aanvullend),
    cat!("Mensenhandel", AI, None, Aanvullend),
    cat!("Jeugdprostitutie", AI, None, Aanvullend),
    cat!("Politie: overige zorg minderjarig/Prokid", AI, None, Aanvullend),
    cat!("Politie: jeugdige strafbaar feit", AI, None, Aanvullend),
    cat!("Geen van bovenstaande", AI, None, Aanvullend),
    cat!("Niet gespecificeerd", AI, None, Aanvullend),
];

/// The title 84851NED gives its one dimension, and 84850NED its two.
pub const KENMERKEN: &str = "Kenmerken adviezen, meldingen, diensten";
pub const AARD: &str = "Aard van het geweld";
pub const AANVULLEND: &str = "Aanvullende informatie";

/// The fallback dimension of a table of the family, if vtsql has one: 84851NED's `Kenmerken` (every
/// category), 84850NED's `Aard van het geweld` (Totaal and the kinds) and `Aanvullende informatie` (Totaal and
/// the additional information). Categories are keyed by their title; groups as [`CATEGORIES`] tells them.
pub fn fallback(table: &str, dimension_title: &str) -> Option<Dimension> {
    let folded = model::fold_title(dimension_title);
    let which = [KENMERKEN, AARD, AANVULLEND].into_iter().find(|d| model::fold_title(d) == folded)?;
    let wanted = match (table, which) {
        ("84851NED", KENMERKEN) => |_: &Category| true,
        ("84850NED", AARD) => |c: &Category| c.kind != CategoryKind::Aanvullend,
        ("84850NED", AANVULLEND) => |c: &Category| matches!(c.kind, CategoryKind::Aanvullend | CategoryKind::Totaal),
        _ => return None,
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut categories = Vec::new();
    for c in CATEGORIES.iter().filter(|c| wanted(c)) {
        let group = match c.kind {
            CategoryKind::Totaal => None,
            CategoryKind::Hoofdvorm if !CATEGORIES.iter().any(|s| s.parent == Some(c.name)) => None,
            _ => Some(c.group),
        };
        if let Some(g) = group
            && !groups.iter().any(|x| x.id == g)
        {
            groups.push(Group { id: g.to_string(), title: g.to_string(), parent: None });
        }
        categories.push(model::Category {
            key: c.name.to_string(),
            title: c.name.to_string(),
            group: group.map(str::to_string),
            labels: vec![],
            // StatLine shows this one cut short, and its full title is not known here
            cut: c.name == "Andere problematiek",
        });
    }
    Some(Dimension {
        key: which.to_string(),
        title: which.to_string(),
        column: String::new(),
        description: String::new(),
        categories,
        groups,
    })
}

/// The table `categories` of a dimension: every category with its top-level group, the category it refines,
/// its place (`totaal`; `hoofdvorm`, a kind; `subvorm`, a subtype of a kind; `aanvullend`, in a group that is
/// no category itself; NULL where the dimension tells no hierarchy and vtsql has no fallback) and CBS's order.
pub fn table(dimension: &Dimension) -> arrow::error::Result<RecordBatch> {
    let titles: std::collections::HashSet<&str> = dimension.categories.iter().map(|c| c.title.as_str()).collect();
    let totaal =
        dimension.categories.iter().find(|c| model::fold_title(&c.title) == "totaal").map(|c| c.title.as_str());
    let hierarchy = !dimension.groups.is_empty();
    let (mut names, mut groups, mut parents, mut kinds) = (vec![], vec![], vec![], vec![]);
    for c in &dimension.categories {
        let group = c.group.as_deref().and_then(|id| dimension.groups.iter().find(|g| g.id == id));
        let is_totaal = Some(c.title.as_str()) == totaal;
        let (parent, kind) = match group {
            _ if is_totaal => (None, Some(CategoryKind::Totaal)),
            Some(g) if g.title == c.title => (totaal.map(str::to_string), Some(CategoryKind::Hoofdvorm)),
            Some(g) if titles.contains(g.title.as_str()) => (Some(g.title.clone()), Some(CategoryKind::Subvorm)),
            Some(_) => (None, Some(CategoryKind::Aanvullend)),
            None if hierarchy => (totaal.map(str::to_string), Some(CategoryKind::Hoofdvorm)),
            None => (None, None),
        };
        names.push(c.title.clone());
        groups.push(dimension.top_group(c));
        parents.push(parent);
        kinds.push(kind.map(CategoryKind::as_str));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        Arc::new(StringArray::from(groups)),
        Arc::new(StringArray::from(parents)),
        Arc::new(StringArray::from(kinds)),
        Arc::new(Int32Array::from_iter_values(0..dimension.categories.len() as i32)),
    ];
    RecordBatch::try_new(schema::CATEGORIES.schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_has_52_distinct_categories() {
        assert_eq!(CATEGORIES.len(), 52);
        let mut names: Vec<_> = CATEGORIES.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 52);
    }

    #[test]
    fn truncated_labels_map_to_full_names() {
        let kenmerken = fallback("84851NED", KENMERKEN).unwrap();
        let full = |l| kenmerken.resolve(l).map(|c| c.title.clone());
        assert_eq!(
            full("Mishandeling kind: emotionele mish...").as_deref(),
            Some("Mishandeling kind: emotionele mishandeling")
        );
        assert_eq!(
            full("Mishandeling kind: emotionele verw...").as_deref(),
            Some("Mishandeling kind: emotionele verwaarlozing")
        );
        assert_eq!(full("Andere problematiek...").as_deref(), Some("Andere problematiek"));
        assert_eq!(full("Ov. Huiselijk geweld: anders").as_deref(), Some("Ov. huiselijk geweld: anders"));
        assert_eq!(full("Mishandeling kind: emotionele..."), None, "ambiguous");
        assert_eq!(full("Ruzie"), None);
        assert_eq!(kenmerken.categories.len(), 52);
        assert!(fallback("84852NED", KENMERKEN).is_none());
    }

    /// The table derived from the fallback hierarchy is the list as it always was.
    #[test]
    fn the_table_from_the_hierarchy() {
        let batch = table(&fallback("84851NED", KENMERKEN).unwrap()).unwrap();
        let rows = crate::rows::rows(&[batch], "NULL").unwrap();
        assert_eq!(rows.len(), 52);
        for (row, c) in rows.iter().zip(CATEGORIES) {
            assert_eq!(row[0], c.name);
            assert_eq!(row[1], c.group, "{}", c.name);
            assert_eq!(row[2], c.parent.unwrap_or("NULL"), "{}", c.name);
            assert_eq!(row[3], c.kind.as_str(), "{}", c.name);
        }
        let aard = fallback("84850NED", AARD).unwrap();
        let aanvullend = fallback("84850NED", AANVULLEND).unwrap();
        assert_eq!(aard.categories.len() + aanvullend.categories.len(), 52 + 1, "Totaal in both");
    }

    #[test]
    fn parents_exist() {
        for c in CATEGORIES {
            if let Some(parent) = c.parent {
                assert!(CATEGORIES.iter().any(|p| p.name == parent), "{}", c.name);
            }
        }
    }
}
