//! StatLine CSV downloads and the other `;`-separated CBS layouts (regions, Gebieden in Nederland,
//! Gemeenten alfabetisch, 70072ned population): rows or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vtsql::ingest::read_download("fuzz.csv", data);
});
