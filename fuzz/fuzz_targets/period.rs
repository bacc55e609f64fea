//! The period parser (`Period::parse`, behind `halfyear`, `try_halfyear`, `hy_*` and ingest): any text is a
//! period or none; a period's own spellings read back as it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtsql_udfs::period::Period;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some((period, _)) = Period::parse(&text) {
        assert_eq!(Period::parse(&period.to_string()).map(|(p, _)| p), Some(period));
        assert_eq!(Period::parse(&period.cbs_code()).map(|(p, _)| p), Some(period));
        assert_eq!(Period::parse(&period.label()).map(|(p, _)| p), Some(period));
    }
});
