//! The output contract: rendered objects as multi-document YAML in install order (kind rank,
//! then namespace, then name), one file name per object for `--output-dir`, and the check that
//! no two custom resources render the same object differently.

use crate::diagnostic::Diagnostic;
use crate::load::Input;
use crate::render::{Object, Rendered};

/// Serialise one object as a YAML document (no leading `---`).
pub fn object_yaml(o: &Object) -> String {
    // Serialising plain data structures cannot fail; an empty document would be caught by the
    // golden and conformance tests.
    serde_saphyr::to_string(o).unwrap_or_default()
}

/// Every object as one multi-document YAML stream, `---` between documents.
pub fn to_yaml(objects: &[Rendered]) -> String {
    let mut out = String::new();
    for (i, r) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&object_yaml(&r.object));
    }
    out
}

/// The file name of an object in `--output-dir`: install rank first, so that a directory
/// listing is the install order.
pub fn file_name(o: &Object) -> String {
    format!(
        "{:02}-{}-{}-{}.yaml",
        o.rank(),
        o.kind().to_ascii_lowercase(),
        o.namespace(),
        o.name()
    )
}

/// Drop exact duplicates (two NIMServices sharing an existing PVC name render the same PVC) and
/// report objects that two resources render differently.
pub fn deduplicate(objects: Vec<Rendered>, input: &Input) -> (Vec<Rendered>, Vec<Diagnostic>) {
    let mut out: Vec<Rendered> = Vec::with_capacity(objects.len());
    let mut diags = Vec::new();
    for r in objects {
        if let Some(prev) = out.last()
            && prev.object.order_key() == r.object.order_key()
        {
            if prev.object != r.object {
                let o = &r.object;
                let mut d = Diagnostic::new(
                    "NIMC005",
                    format!(
                        "two resources render {} {}/{} differently",
                        o.kind(),
                        o.namespace(),
                        o.name()
                    ),
                )
                .help("rename one of them (for example storage.pvc.name) so that the objects do not collide");
                if let Some(origin) = r.origin.or(prev.origin) {
                    d = d.at(origin.file, input.span(origin, "/metadata/name"));
                }
                diags.push(d);
            }
            continue;
        }
        out.push(r);
    }
    (out, diags)
}
