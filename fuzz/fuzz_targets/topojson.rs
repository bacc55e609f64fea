//! The TopoJSON boundary reader of `.map`: any text gives regions or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = vtsql::repl::map::read_topology(&text, "gemeente_2025");
    let _ = vtsql::repl::map::read_topology(&text, "veiligthuisregio_2025");
});
