//! The whole compile path on arbitrary text: YAML front end, typing, checks, update rules
//! against a base revision, resolving, rendering, writing YAML, and the status logic. nimc must never panic;
//! when it renders, its own output must read back as YAML.
//!
//! The input is one file; a line `#--- base` splits it into the new text and the text at the
//! base revision (so the update rules are fuzzed too).

#![no_main]

use libfuzzer_sys::fuzz_target;
use nimc::facts::Facts;
use nimc::source::Sources;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (new, base) = match text.split_once("\n#--- base\n") {
        Some((n, b)) => (n, Some(b)),
        None => (text, None),
    };
    let sources = Sources::from_texts([("input.yaml", new)]);
    let base = base.map(|b| Sources::from_texts([("base.yaml", b)]));
    let c = nimc::compile_with_base(&sources, &Facts::default(), base.as_ref());
    for d in &c.diagnostics {
        // Every printer must cope with every diagnostic.
        let _ = nimc::diagnostic::print_human(d, &sources);
        let _ = nimc::diagnostic::print_github(d, &sources);
        let _ = nimc::diagnostic::print_json(d, &sources);
    }
    // The status logic, with the input itself as the observed cluster.
    if let Ok(observed) = nimc::status::Observed::parse(&sources) {
        let _ = nimc::status(
            &sources,
            &Facts::default(),
            &observed,
            &Default::default(),
            "2026-01-01T00:00:00Z",
        );
    }
    if !c.objects.is_empty() {
        let out = nimc::manifest::to_yaml(&c.objects);
        let again = Sources::from_texts([("output.yaml", out.as_str())]);
        let reread = nimc::compile(&again, &Facts::default());
        assert!(
            !reread.diagnostics.iter().any(|d| d.code == "NIMC001"),
            "nimc's own output does not parse: {:?}",
            reread.diagnostics
        );
    }
});
