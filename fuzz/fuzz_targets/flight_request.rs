//! A Flight SQL client's request bytes as `vtsql serve` reads them: the command, its statement (numbered
//! and parsed) or its name patterns; a command or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vtsql::flight::read_request(data);
});
