//! The three configuration parsers on arbitrary text: diagnostics, never a
//! panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use twinbeat::config::{Diagnostics, authkeys, hacf, haresources};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut diags = Diagnostics::new();
    let _ = hacf::parse(&text, Path::new("ha.cf"), &mut diags);
    let _ = authkeys::parse(&text, Path::new("authkeys"), &mut diags);
    let _ = haresources::parse(&text, Path::new("haresources"), &mut diags);
});
