//! The ten tables of *Beleidsinformatie Veilig Thuis*, and which of them a download is.
//!
//! A StatLine CSV download carries no table id. vtsql tells the table, in this order, from `--table ID`,
//! from an id in the file name (`84852NED`), from CBS's title (a text export's first line, or the title
//! StatLine puts in the download's file name), and last from what the download holds: the words of its
//! dimensions and categories (then its topics) name the subject, and its regions the variant (a table
//! per Veilig Thuis-regio has no gemeenten, provincies or landsdelen). Where that leaves more than one
//! table, the download is refused with a message that says how to name it.

use super::model::{TableMeta, fold_title};

/// Whether a table has a row per Veilig Thuis-regio only, or per gemeente, VT-regio, provincie,
/// landsdeel and Nederland.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    VtRegio,
    Regio,
}

/// One table of the family.
#[derive(Debug)]
pub struct Member {
    pub id: &'static str,
    /// CBS's title (the StatLine title; `Huiselijk geweld; ` before it in the catalogue).
    pub title: &'static str,
    pub scope: Scope,
    /// The friendly view over this subject's tables.
    pub view: &'static str,
    /// The dimension titles of the table, where known (they split a text export's header).
    pub dimensions: &'static [&'static str],
    /// Words in dimension titles or categories that only this subject uses.
    pub marks: &'static [&'static str],
    /// Words in topic titles that only this subject uses (for a download without dimensions).
    pub topic_marks: &'static [&'static str],
}

pub const FAMILY: [Member; 10] = [
    Member {
        id: "84847NED",
        title: "kerncijfers Veilig Thuis, regio",
        scope: Scope::Regio,
        view: "vt_kerncijfers",
        dimensions: &[],
        marks: &[],
        topic_marks: &[],
    },
    Member {
        id: "84848NED",
        title: "rol/functie adviesvrager en melder, organisatie, duur geweld, Veilig Thuis-regio",
        scope: Scope::VtRegio,
        view: "vt_melders",
        dimensions: &[],
        marks: MELDERS,
        topic_marks: &[],
    },
    Member {
        id: "84849NED",
        title: "rol/functie adviesvrager en melder, organisatie, duur geweld, regio",
        scope: Scope::Regio,
        view: "vt_melders",
        dimensions: &[],
        marks: MELDERS,
        topic_marks: &[],
    },
    Member {
        id: "84850NED",
        title: "aard geweld, aanvullende informatie, Veilig Thuis-regio",
        scope: Scope::VtRegio,
        view: "vt_aard_geweld",
        dimensions: &["Aard van het geweld", "Aanvullende informatie"],
        marks: AARD,
        topic_marks: &[],
    },
    Member {
        id: "84851NED",
        title: "aard geweld, aanvullende informatie, regio",
        scope: Scope::Regio,
        view: "vt_aard_geweld",
        dimensions: &["Kenmerken adviezen, meldingen, diensten"],
        marks: AARD,
        topic_marks: &[],
    },
    Member {
        id: "84852NED",
        title: "veiligheidsbeoordeling en -taxatie, regio",
        scope: Scope::Regio,
        view: "vt_veiligheid",
        dimensions: &["Veiligheidstaxatie", "Veiligheidsbeoordeling"],
        marks: &["veiligheidstaxatie", "veiligheidsbeoordeling", "acute onveiligheid", "structurele onveiligheid"],
        topic_marks: &[],
    },
    Member {
        id: "84853NED",
        title: "uitkomsten onderzoeken, Veilig Thuis-regio",
        scope: Scope::VtRegio,
        view: "vt_onderzoek",
        dimensions: &[],
        marks: &["uitkomst"],
        topic_marks: &[],
    },
    Member {
        id: "84854NED",
        title: "organisatie van overdracht, type hulp, Veilig Thuis-regio",
        scope: Scope::VtRegio,
        view: "vt_overdracht",
        dimensions: &[],
        marks: OVERDRACHT,
        topic_marks: &[],
    },
    Member {
        id: "84855NED",
        title: "organisatie van overdracht, type hulp, regio",
        scope: Scope::Regio,
        view: "vt_overdracht",
        dimensions: &[],
        marks: OVERDRACHT,
        topic_marks: &[],
    },
    Member {
        id: "85361NED",
        title: "meldingen naar eerdere betrokkenheid Veilig Thuis, regio",
        scope: Scope::Regio,
        view: "vt_eerdere_betrokkenheid",
        dimensions: &[],
        marks: &["eerdere betrokkenheid"],
        topic_marks: &["eerdere betrokkenheid", "vervolgmelding"],
    },
];

const MELDERS: &[&str] = &["adviesvrager", "melder", "beroepsmatig", "duur geweld", "duur van het geweld"];
const AARD: &[&str] = &[
    "aard",
    "kindermishandeling",
    "partnergeweld",
    "ouderenmishandeling",
    "mishandeling kind",
    "mensenhandel",
    "eergerelateerd",
];
const OVERDRACHT: &[&str] = &["overdracht", "type hulp", "ggz"];

impl Member {
    /// The dimension a download titles `title`: as CBS titles it, or cut short at a word (`Kenmerken` for
    /// `Kenmerken adviezen, meldingen, diensten`).
    pub fn dimension_titled(&self, title: &str) -> Option<&'static str> {
        let short = fold_title(title);
        self.dimensions.iter().copied().find(|d| {
            let full = fold_title(d);
            full == short || full.starts_with(&format!("{short} "))
        })
    }
}

/// The family member with this id.
pub fn member(id: &str) -> Option<&'static Member> {
    FAMILY.iter().find(|m| m.id.eq_ignore_ascii_case(id))
}

/// The five figures of the core tables: a download with these and no dimension is the kerncijfers table.
const CORE_TOPICS: [&str; 5] = [
    "gestarte adviezen",
    "ontvangen meldingen",
    "casussen met ontvangen melding",
    "afgeronde diensten onderzoek",
    "afgeronde diensten voorwaarden en verv",
];

/// A CBS table id (`84852NED`, any case) standing in `text`.
pub fn id_in(text: &str) -> Option<String> {
    let upper = text.to_uppercase();
    let bytes = upper.as_bytes();
    (0..bytes.len().saturating_sub(7)).find_map(|start| {
        let window = &bytes[start..start + 8];
        let digits = window[..5].iter().all(u8::is_ascii_digit);
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_digit();
        (digits && before_ok && (&window[5..] == b"NED" || &window[5..] == b"ENG"))
            .then(|| upper[start..start + 8].to_string())
    })
}

/// The member whose CBS title `text` holds (a text export's title, a file name with `_` for spaces): the
/// longest such title.
pub fn by_title(text: &str) -> Option<&'static Member> {
    let folded = fold_title(&text.replace('_', " "));
    let padded = format!(" {} ", folded.replace('.', " "));
    FAMILY
        .iter()
        .filter(|m| {
            let title = fold_title(m.title);
            padded.contains(&format!(" {title} "))
        })
        .max_by_key(|m| m.title.len())
}

/// What a download shows of itself, for telling its table.
pub struct Evidence<'a> {
    pub dimension_titles: Vec<&'a str>,
    pub categories: Vec<&'a str>,
    pub topics: Vec<&'a str>,
    /// The region levels of its rows (`gemeente`, `vt_regio`, ...).
    pub levels: Vec<&'a str>,
}

/// Why a download's table could not be told.
pub fn refusal(reason: &str) -> String {
    format!(
        "cannot tell which CBS table this is: {reason}. Name it with --table ID (for example --table 84851NED), \
         or keep the file name StatLine gave the download (it holds the table's title)"
    )
}

/// Tells the table from what a download holds.
pub fn by_content(evidence: &Evidence<'_>) -> Result<&'static Member, String> {
    // a mark stands at the start of a word: `aard` is in `Aard van het geweld`, not in `Waarde`
    let has =
        |texts: &[&str], mark: &str| texts.iter().any(|t| format!(" {}", fold_title(t)).contains(&format!(" {mark}")));
    let subjects = |texts: &[&str], topics: bool| -> Vec<&'static str> {
        let mut views: Vec<&'static str> = FAMILY
            .iter()
            .filter(|m| if topics { m.topic_marks } else { m.marks }.iter().any(|mark| has(texts, mark)))
            .map(|m| m.view)
            .collect();
        views.dedup();
        views
    };
    let mut named = subjects(&evidence.dimension_titles, false);
    if named.is_empty() && !evidence.dimension_titles.is_empty() {
        named = FAMILY
            .iter()
            .filter(|m| evidence.dimension_titles.iter().all(|t| m.dimension_titled(t).is_some()))
            .map(|m| m.view)
            .collect();
        named.dedup();
    }
    if named.is_empty() {
        named = subjects(&evidence.categories, false);
    }
    if named.is_empty() && evidence.dimension_titles.is_empty() {
        named = subjects(&evidence.topics, true);
        let core = !evidence.topics.is_empty()
            && evidence.topics.iter().all(|t| CORE_TOPICS.iter().any(|c| fold_title(t).contains(c)));
        if named.is_empty() && core {
            named = vec!["vt_kerncijfers"];
        }
    }
    let view = match named.as_slice() {
        [one] => *one,
        [] => {
            return Err(refusal(&format!(
                "its dimensions {:?} and topics {:?} are none of Beleidsinformatie Veilig Thuis",
                evidence.dimension_titles, evidence.topics
            )));
        }
        many => return Err(refusal(&format!("it could be any of {}", many.join(", ")))),
    };
    let members: Vec<&Member> = FAMILY.iter().filter(|m| m.view == view).collect();
    if let [one] = members.as_slice() {
        return Ok(one);
    }
    let below_vt = evidence.levels.iter().any(|l| matches!(*l, "gemeente" | "provincie" | "landsdeel"));
    if below_vt {
        return members
            .iter()
            .find(|m| m.scope == Scope::Regio)
            .copied()
            .ok_or_else(|| refusal("no table of its kind has gemeenten"));
    }
    let ids: Vec<String> = members.iter().map(|m| format!("{} ({})", m.id, m.title)).collect();
    Err(refusal(&format!("it holds only Veilig Thuis-regio's and Nederland, so it may be {}", ids.join(" or "))))
}

/// CBS tables outside the family that vtsql recognises by their title (StatLine puts it in a download's file
/// name): the population tables `population` takes its inhabitants from.
const OTHER_TITLES: [(&str, &str); 2] =
    [("70072NED", "Regionale kerncijfers Nederland"), ("03759NED", "Bevolking op 1 januari en gemiddeld")];

/// The id of a table outside the family whose title `text` holds (a file name with `_` for spaces).
fn other_by_title(text: &str) -> Option<&'static str> {
    let folded = format!(" {} ", fold_title(&text.replace('_', " ")).replace('.', " "));
    OTHER_TITLES.iter().find(|(_, title)| folded.contains(&format!(" {} ", fold_title(title)))).map(|(id, _)| *id)
}

/// Tells the table of a download: `--table`, then an id in the file name, then CBS's title (in the file or
/// its name), then its content.
pub fn identify(
    table: Option<&str>,
    file_name: &str,
    title: Option<&str>,
    evidence: &Evidence<'_>,
) -> Result<(String, Option<&'static Member>), String> {
    if let Some(id) = table {
        let id = id.trim().to_uppercase();
        if id_in(&id).as_deref() != Some(id.as_str()) {
            return Err(format!("--table {id:?} is not a CBS table id such as 84852NED"));
        }
        return Ok((id.clone(), member(&id)));
    }
    if let Some(id) = id_in(file_name) {
        return Ok((id.clone(), member(&id)));
    }
    if let Some(m) = title.and_then(by_title).or_else(|| by_title(file_name)) {
        return Ok((m.id.to_string(), Some(m)));
    }
    if let Some(id) = title.and_then(other_by_title).or_else(|| other_by_title(file_name)) {
        return Ok((id.to_string(), None));
    }
    by_content(evidence).map(|m| (m.id.to_string(), Some(m)))
}

/// The view and catalogue title of a stored table of the family.
pub fn describe(meta: &TableMeta) -> Option<&'static Member> {
    member(&meta.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence<'a>(dims: &[&'a str], categories: &[&'a str], topics: &[&'a str], levels: &[&'a str]) -> Evidence<'a> {
        Evidence {
            dimension_titles: dims.to_vec(),
            categories: categories.to_vec(),
            topics: topics.to_vec(),
            levels: levels.to_vec(),
        }
    }

    #[test]
    fn ids_and_titles() {
        assert_eq!(id_in("download_84849ned_2023.csv").as_deref(), Some("84849NED"));
        assert_eq!(id_in("x.csv"), None);
        assert_eq!(id_in("1284849NED"), None);
        assert_eq!(by_title("Huiselijk geweld; aard geweld, aanvullende informatie, regio").unwrap().id, "84851NED");
        assert_eq!(
            by_title("Huiselijk_geweld__aard_geweld__aanvullende_informatie__Veilig_Thuis_regio_01122026_101500.csv")
                .unwrap()
                .id,
            "84850NED"
        );
        assert_eq!(
            by_title("Huiselijk_geweld__veiligheidsbeoordeling_en__taxatie__regio_01122026.csv").unwrap().id,
            "84852NED"
        );
        assert!(by_title("Bevolking; kerncijfers").is_none());
    }

    #[test]
    fn content_tells_the_subject_and_regions_the_variant() {
        let e = evidence(
            &["Veiligheidstaxatie", "Veiligheidsbeoordeling"],
            &["Totaal"],
            &["Ontvangen meldingen"],
            &["land"],
        );
        assert_eq!(by_content(&e).unwrap().id, "84852NED");
        let e = evidence(
            &[],
            &[],
            &["Vervolgmelding tijdens betrokkenheid VT: totaal", "... tijdens veiligheidsbeoordeling"],
            &["gemeente"],
        );
        assert_eq!(by_content(&e).unwrap().id, "85361NED");
        let e = evidence(
            &["Kenmerken adviezen, meldingen, diensten"],
            &["Totaal", "Kindermishandeling"],
            &["Gestarte adviezen"],
            &["gemeente"],
        );
        assert_eq!(by_content(&e).unwrap().id, "84851NED");
        let e = evidence(
            &["Kenmerken adviezen, meldingen, diensten"],
            &["Totaal", "Kindermishandeling"],
            &["Gestarte adviezen"],
            &["vt_regio", "land"],
        );
        let refused = by_content(&e).unwrap_err();
        assert!(
            refused.contains("84850NED") && refused.contains("84851NED") && refused.contains("--table"),
            "{refused}"
        );
        let e = evidence(&[], &[], &["Gestarte adviezen", "Ontvangen meldingen"], &["gemeente"]);
        assert_eq!(by_content(&e).unwrap().id, "84847NED");
        // a dimension title cut short still names its table, a word cut in two does not
        let e = evidence(&["Kenmerken"], &["Totaal"], &["Gestarte adviezen"], &["gemeente"]);
        assert_eq!(by_content(&e).unwrap().id, "84851NED");
        let e = evidence(&["Kenmerk"], &["Totaal"], &["Gestarte adviezen"], &["gemeente"]);
        assert!(by_content(&e).is_err());
        let e = evidence(&["Leeftijd"], &["0 tot 18 jaar"], &["Bevolking"], &["gemeente"]);
        assert!(by_content(&e).unwrap_err().contains("none of Beleidsinformatie Veilig Thuis"));
    }

    #[test]
    fn the_order_of_evidence() {
        let nothing = evidence(&[], &[], &[], &[]);
        assert_eq!(identify(Some("84853ned"), "x.csv", None, &nothing).unwrap().0, "84853NED");
        assert!(identify(Some("drop table"), "x.csv", None, &nothing).is_err());
        assert_eq!(identify(None, "84849NED_2023.csv", None, &nothing).unwrap().0, "84849NED");
        let title = Some("Huiselijk geweld; aard geweld, aanvullende informatie, regio");
        assert_eq!(identify(None, "x.txt", title, &nothing).unwrap().0, "84851NED");
        assert!(identify(None, "x.csv", None, &nothing).is_err());
        let population = "Regionale_kerncijfers_Nederland_11122025_133649.csv";
        assert_eq!(identify(None, population, None, &nothing).unwrap().0, "70072NED");
    }
}
