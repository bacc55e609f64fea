//! The kind-of-violence dimension (*aard van het geweld, aanvullende informatie*) of 84850NED and
//! 84851NED: every category with its full name, its group and its parent.
//!
//! This is the one place that maps the labels found in exports, which StatLine cuts short
//! (`Mishandeling kind: emotionele mish...`), to full names. Kinds are **not additive**: one melding
//! can name several kinds, so subtypes sum to more than their group and groups to more than `Totaal`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};

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

/// The table `categories`: every category with its group, parent, kind and StatLine order.
pub fn table() -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(CATEGORIES.iter().map(|c| c.name))),
        Arc::new(StringArray::from_iter_values(CATEGORIES.iter().map(|c| c.group))),
        Arc::new(CATEGORIES.iter().map(|c| c.parent).collect::<StringArray>()),
        Arc::new(StringArray::from_iter_values(CATEGORIES.iter().map(|c| c.kind.as_str()))),
        Arc::new(Int32Array::from_iter_values(0..CATEGORIES.len() as i32)),
    ];
    RecordBatch::try_new(schema::CATEGORIES.schema(), columns).expect("categories columns match their schema")
}

/// Finds the category an export label stands for: its full name in any letter case, or a label
/// cut off with `..` or `...` whose start matches exactly one full name.
pub fn lookup(label: &str) -> Option<&'static Category> {
    let label = label.trim();
    let stem = label.trim_end_matches('.');
    let cut_off = stem.len() + 2 <= label.len();
    if let Some(found) = CATEGORIES.iter().find(|c| c.name.eq_ignore_ascii_case(label)) {
        return Some(found);
    }
    if !cut_off {
        return None;
    }
    let stem = stem.trim_end().to_lowercase();
    let mut matches = CATEGORIES.iter().filter(|c| c.name.to_lowercase().starts_with(&stem));
    let first = matches.next()?;
    matches.next().is_none().then_some(first)
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
        let full = |l| lookup(l).map(|c| c.name);
        assert_eq!(full("Mishandeling kind: emotionele mish..."), Some("Mishandeling kind: emotionele mishandeling"));
        assert_eq!(full("Mishandeling kind: emotionele verw..."), Some("Mishandeling kind: emotionele verwaarlozing"));
        assert_eq!(full("Andere problematiek..."), Some("Andere problematiek"));
        assert_eq!(full("Ov. Huiselijk geweld: anders"), Some("Ov. huiselijk geweld: anders"));
        assert_eq!(lookup("Partnergeweld: fysiek").map(|c| c.group), Some(PG));
    }

    #[test]
    fn ambiguous_or_unknown_labels_are_refused() {
        assert_eq!(lookup("Mishandeling kind: emotionele..."), None);
        assert_eq!(lookup("Mishandeling kind: emotionele"), None);
        assert_eq!(lookup("Ruzie"), None);
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
