//! Kept OData pages (`vtsql ingest --kept`): the first byte picks a page of the small v3 download in
//! `tests/data/odata-v3`, the rest replaces it; the download gives rows or an error, never a panic.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const SETS: [&str; 6] = ["TableInfos", "DataProperties", "Veiligheidsbeoordeling", "RegioS", "Perioden", "UntypedDataSet"];

/// A copy of the example download in a directory of this process's own.
fn example() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/odata-v3");
        let dir = std::env::temp_dir().join(format!("vtsql-fuzz-odata-{}", std::process::id()));
        for set in SETS {
            std::fs::create_dir_all(dir.join(set)).expect("a temporary directory");
            for file in ["page-00001.json", "DONE"] {
                std::fs::copy(from.join(set).join(file), dir.join(set).join(file)).expect("the example download");
            }
        }
        for file in ["api", "COMPLETE"] {
            std::fs::copy(from.join(file), dir.join(file)).expect("the example download");
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, page)) = data.split_first() else { return };
    let dir = example();
    let path = dir.join(SETS[usize::from(which) % SETS.len()]).join("page-00001.json");
    let original = std::fs::read(&path).expect("the example page");
    std::fs::write(&path, page).expect("a temporary file");
    let _ = vtsql::ingest::cbs::odata::read_download(dir);
    std::fs::write(&path, original).expect("a temporary file");
});
