//! A page of an entity set as `vtsql fetch` receives it from the server: its rows are counted and its next
//! link read as the page is parsed (no tree), and the link's scheme and host compared with the service's; a
//! count and a link or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, Some(next))) = vtsql::fetch::page_shape("https://opendata.cbs.nl/ODataFeed/odata/84852NED", data) {
        let _ = vtsql::fetch::origin(&next);
    }
});
