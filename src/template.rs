//! What the operator's text templates make of a value. Most strings of a NIMService reach its
//! Deployment (LeaderWorkerSet, InferenceService) through `manifests/*.yaml`, pasted as they
//! are after a `key: ` and read back as YAML: a plain scalar. So leading spaces and trailing
//! spaces or tabs vanish, `~` and `null` become nothing, ` #` starts a comment, and a line
//! break, a leading tab, a `: ` or a leading quote or indicator stops the reconcile before the
//! workload is written. [`plain`] is that reading; [`read`] applies it, after loading, to every
//! NIMService field the templates paste raw (so that every later phase sees the values the
//! operator would), and reports the values the templates cannot render (NIMC038). Objects the
//! operator builds in Go (the NIMCache Job, PVCs) copy their strings byte for byte and are not
//! read here. Values written through the templates' `yaml` function (env, labels, probes,
//! resources, ...) are exact and not read here either.

use crate::api::{Image, NimContainerSpec, NimService};
use crate::diagnostic::Diagnostic;
use crate::load::{Cr, Input};

/// A string as the operator's templates read it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plain {
    /// Empty, blank, a comment, `~` or `null`: the field is left out (or empty).
    Null,
    /// The text YAML reads (spaces and a comment trimmed away).
    Text(String),
    /// The template's output does not parse, or parses into another structure: the operator
    /// renders nothing. The reason, for the diagnostic.
    Breaks(&'static str),
}

/// How YAML reads `s` pasted after `key: ` in block context (go-yaml v2, as the operator's
/// renderer decodes its templates). Values YAML would type as booleans or numbers are kept as
/// text: nimc quotes them (a documented fix; the operator fails to convert them).
pub fn plain(s: &str) -> Plain {
    if s.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        return Plain::Breaks("it holds a line break");
    }
    if s.chars().any(|c| c.is_control() && c != '\t') {
        return Plain::Breaks("it holds a control character");
    }
    let t = s.trim_start_matches(' ');
    if t.starts_with('\t') {
        return Plain::Breaks("it starts with a tab");
    }
    let t = match t.starts_with('#') {
        true => "",
        false => match t.find(" #").into_iter().chain(t.find("\t#")).min() {
            Some(i) => &t[..i],
            None => t,
        },
    };
    let t = t.trim_end_matches([' ', '\t']);
    if t.is_empty() || matches!(t, "~" | "null" | "Null" | "NULL") {
        return Plain::Null;
    }
    if t.starts_with([
        '[', ']', '{', '}', ',', '*', '&', '!', '|', '>', '\'', '"', '%', '@', '`',
    ]) {
        return Plain::Breaks("it starts with a YAML indicator or quote");
    }
    if matches!(t, "-" | "?" | ":") || t.starts_with("- ") || t.starts_with("? ") {
        return Plain::Breaks("it starts with a YAML indicator");
    }
    if t.contains(": ") || t.contains(":\t") || t.ends_with(':') {
        return Plain::Breaks("it holds `: ` or ends with `:` (a YAML mapping)");
    }
    Plain::Text(t.to_string())
}

/// Read every raw-templated NIMService field as the operator does (standalone and pipeline
/// services alike); a value the templates cannot render is NIMC038.
pub fn read(input: &mut Input) -> Vec<Diagnostic> {
    let mut services = std::mem::take(&mut input.services);
    let mut out = Vec::new();
    // A resource that breaks a CRD constraint never reaches the operator.
    for cr in services.iter_mut().filter(|s| !input.rejected(s.origin)) {
        service(input, cr, &mut out);
    }
    input.services = services;
    out
}

/// Reads one value at `pointer`; `None` when it breaks the template (reported).
struct Reader<'i, 'a> {
    input: &'i Input<'a>,
    cr: crate::load::Origin,
    name: String,
    out: &'i mut Vec<Diagnostic>,
}

impl Reader<'_, '_> {
    fn read(&mut self, pointer: &str, value: &str) -> Option<Plain> {
        match plain(value) {
            Plain::Breaks(why) => {
                self.out.push(
                    self.input
                        .diag(
                            "NIMC038",
                            self.cr,
                            pointer,
                            format!(
                                "NIMService {}: the operator's template cannot render {value:?}: {why}",
                                self.name
                            ),
                        )
                        .help("the operator pastes this value into YAML unquoted and stops before creating the workload; remove the line break, tab, `: `, comment or leading quote"),
                );
                None
            }
            p => Some(p),
        }
    }

    /// An optional string: blank or null-like becomes `None`.
    fn optional(&mut self, pointer: &str, value: &mut Option<String>) {
        if let Some(v) = value.as_deref()
            && let Some(p) = self.read(pointer, v)
        {
            *value = match p {
                Plain::Text(t) => Some(t),
                _ => None,
            };
        }
    }

    /// A string that stays a string: blank or null-like becomes `""`.
    fn string(&mut self, pointer: &str, value: &mut String) {
        if let Some(p) = self.read(pointer, value) {
            *value = match p {
                Plain::Text(t) => t,
                _ => String::new(),
            };
        }
    }

    /// `repository:tag`, pasted as one value: the repository loses its leading spaces, the
    /// tag its trailing spaces and comment.
    fn image(&mut self, pointer: &str, image: &mut Image) {
        let joined = image.reference();
        let at = match image.tag.contains(['\n', '\r', '#', ':', '\t']) {
            true => format!("{pointer}/tag"),
            false => format!("{pointer}/repository"),
        };
        let Some(Plain::Text(t)) = self.read(&at, &joined) else {
            return;
        };
        let repository = image.repository.trim_start_matches(' ');
        if let Some(tag) = t
            .strip_prefix(repository)
            .and_then(|rest| rest.strip_prefix(':'))
        {
            image.tag = tag.to_string();
            image.repository = repository.to_string();
        }
    }

    fn pull(&mut self, pointer: &str, image: &mut Image) {
        self.optional(&format!("{pointer}/pullPolicy"), &mut image.pull_policy);
        for (i, s) in image.pull_secrets.iter_mut().enumerate() {
            self.string(&format!("{pointer}/pullSecrets/{i}"), s);
        }
    }

    fn container(&mut self, pointer: &str, c: &mut NimContainerSpec) {
        self.string(&format!("{pointer}/name"), &mut c.name);
        self.image(&format!("{pointer}/image"), &mut c.image);
        self.optional(
            &format!("{pointer}/image/pullPolicy"),
            &mut c.image.pull_policy,
        );
        self.optional(&format!("{pointer}/workingDir"), &mut c.working_dir);
    }
}

fn service(input: &Input, cr: &mut Cr<NimService>, out: &mut Vec<Diagnostic>) {
    let mut r = Reader {
        input,
        cr: cr.origin,
        name: cr.object.name().to_string(),
        out,
    };
    let spec = &mut cr.object.spec;
    if !spec.image.repository.is_empty() && !spec.image.tag.is_empty() {
        r.image("/spec/image", &mut spec.image);
    }
    r.pull("/spec/image", &mut spec.image);
    // A pull secret whose name reads as nothing is no pull secret (the operator writes `{}`,
    // which the API server ignores with a warning).
    spec.image.pull_secrets.retain(|s| !s.is_empty());
    let selector = std::mem::take(&mut spec.node_selector);
    for (k, mut v) in selector {
        let pointer = format!("/spec/nodeSelector/{}", crate::yaml::escape_segment(&k));
        let key = match r.read(&pointer, &k) {
            Some(Plain::Text(t)) => t,
            Some(_) => {
                r.out.push(
                    input
                        .diag(
                            "NIMC038",
                            cr.origin,
                            &pointer,
                            format!(
                                "NIMService {}: the nodeSelector key {k:?} reads as null, which the operator's template cannot render",
                                r.name
                            ),
                        )
                        .help("give the node label key"),
                );
                continue;
            }
            None => continue,
        };
        r.string(&pointer, &mut v);
        spec.node_selector.insert(key, v);
    }
    r.optional("/spec/runtimeClassName", &mut spec.runtime_class_name);
    r.optional("/spec/schedulerName", &mut spec.scheduler_name);
    r.optional("/spec/priorityClassName", &mut spec.priority_class_name);
    for (i, c) in spec.init_containers.iter_mut().enumerate() {
        r.container(&format!("/spec/initContainers/{i}"), c);
    }
    for (i, c) in spec.sidecar_containers.iter_mut().enumerate() {
        r.container(&format!("/spec/sidecarContainers/{i}"), c);
    }
    if let Some(pvc) = spec.storage.pvc.as_mut() {
        r.optional("/spec/storage/pvc/subPath", &mut pvc.sub_path);
    }
    if let Some(h) = spec.storage.host_path.as_mut() {
        r.string("/spec/storage/hostPath", h);
    }
    if let Some(p) = spec.proxy.as_mut() {
        r.string("/spec/proxy/certConfigMap", &mut p.cert_config_map);
    }
    if let Some(s) = spec.expose.service.as_mut() {
        r.optional("/spec/expose/service/type", &mut s.type_);
    }
    for (i, d) in spec.dra_resources.iter().enumerate() {
        let devices = d.claim_creation_spec.iter().flat_map(|c| &c.devices);
        for (j, dev) in devices.enumerate() {
            for (k, e) in dev.cel_expressions.iter().enumerate() {
                let pointer = format!(
                    "/spec/draResources/{i}/claimCreationSpec/devices/{j}/celExpressions/{k}"
                );
                r.read(&pointer, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_read_as_go_yaml_reads_them() {
        let text = |s: &str| Plain::Text(s.to_string());
        assert_eq!(plain("  nvcr.io/x:1.0 "), text("nvcr.io/x:1.0"));
        assert_eq!(plain("Never \t"), text("Never"));
        assert_eq!(plain("a #comment"), text("a"));
        assert_eq!(plain("a#b"), text("a#b"));
        assert_eq!(plain(":1.0"), text(":1.0"));
        assert_eq!(plain("true"), text("true"));
        for null in ["", "   ", "~", "null", "NULL", "# all comment"] {
            assert_eq!(plain(null), Plain::Null, "{null:?}");
        }
        for broken in [
            "a\nb", "\tx", "repo:", ":", "a: b", "'x", "\"x\"", "[a]", "*x", "- a", "a\u{1}",
        ] {
            assert!(matches!(plain(broken), Plain::Breaks(_)), "{broken:?}");
        }
    }
}
