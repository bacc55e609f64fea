//! StatLine text exports (and whatever else the layout detection takes a `.txt` download for): rows or an
//! error, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vtsql::ingest::read_download("fuzz.txt", data);
});
