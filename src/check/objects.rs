//! Values the operator copies into its objects that the API server refuses there (or that
//! leave pods that can never start): whitespace in an image, a pull policy Kubernetes does not
//! know, an empty or repeated container name, an env reference to a Secret or ConfigMap without
//! a name or key, a claim name with surrounding whitespace. The operator writes such objects
//! and the apply fails; nimc reports the CR field instead (NIMC039). The values are those
//! after `template::read`, as the operator's templates leave them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;

use crate::api::{Image, NimCache, NimContainerSpec, NimService, PersistentVolumeClaimSpec};
use crate::diagnostic::Diagnostic;
use crate::load::{Cr, Input, Origin};
use crate::template::{Plain, plain};

/// The pull policies Kubernetes accepts.
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];

struct Report<'i, 'a> {
    input: &'i Input<'a>,
    origin: Origin,
    what: String,
    out: &'i mut Vec<Diagnostic>,
}

impl Report<'_, '_> {
    fn refuse(&mut self, pointer: &str, problem: String, help: &str) {
        self.out.push(
            self.input
                .diag(
                    "NIMC039",
                    self.origin,
                    pointer,
                    format!("{}: {problem}", self.what),
                )
                .help(help),
        );
    }

    /// An image the operator pastes into a template (`templated`: a broken value is
    /// NIMC038's, padding is trimmed there) or copies into a Job built in Go (padding stays,
    /// and the API server refuses it in a pod).
    fn image(&mut self, pointer: &str, image: &Image, templated: bool) {
        let reference = image.reference();
        if templated && matches!(plain(&reference), Plain::Breaks(_)) {
            return;
        }
        let inner = match templated {
            true => reference.trim(),
            false => reference.as_str(),
        };
        if inner.contains(char::is_whitespace) && !image.repository.is_empty() {
            self.refuse(
                &format!("{pointer}/repository"),
                format!("the image {reference:?} holds whitespace, so its pods cannot start"),
                "remove the spaces from the image repository and tag",
            );
        }
        self.pull_policy(
            &format!("{pointer}/pullPolicy"),
            image.pull_policy.as_deref(),
        );
    }

    fn pull_policy(&mut self, pointer: &str, policy: Option<&str>) {
        // A value the template cannot render is NIMC038's.
        let broken = |p: &str| matches!(plain(p), Plain::Breaks(_));
        if let Some(p) =
            policy.filter(|p| !p.is_empty() && !PULL_POLICIES.contains(p) && !broken(p))
        {
            self.refuse(
                pointer,
                format!("the pull policy {p:?} is not one Kubernetes accepts"),
                "use Always, IfNotPresent or Never",
            );
        }
    }

    fn env(&mut self, pointer: &str, env: &[EnvVar]) {
        for (i, e) in env.iter().enumerate() {
            let Some(from) = &e.value_from else { continue };
            let refs = [
                (
                    "secretKeyRef",
                    from.secret_key_ref.as_ref().map(|r| (&r.name, &r.key)),
                ),
                (
                    "configMapKeyRef",
                    from.config_map_key_ref.as_ref().map(|r| (&r.name, &r.key)),
                ),
            ];
            for (kind, r) in refs {
                let Some((name, key)) = r else { continue };
                for (field, value) in [("name", name), ("key", key)] {
                    if value.is_empty() {
                        self.refuse(
                            &format!("{pointer}/{i}/valueFrom/{kind}/{field}"),
                            format!("env {}: {kind}.{field} is empty", e.name),
                            "name the Secret or ConfigMap and its key: the API server refuses the pod template without them",
                        );
                    }
                }
            }
        }
    }

    /// A claim the operator names in the PVC it creates (byte for byte) and mounts through its
    /// template (trimmed): surrounding whitespace makes the two differ, and is no valid name.
    fn claim(&mut self, pointer: &str, pvc: &PersistentVolumeClaimSpec) {
        for (field, value) in [("name", &pvc.name), ("subPath", &pvc.sub_path)] {
            if let Some(v) = value.as_deref().filter(|v| v.trim() != *v) {
                self.refuse(
                    &format!("{pointer}/{field}"),
                    format!("storage.pvc.{field} {v:?} has surrounding whitespace"),
                    "remove it: the operator's objects would name different claims or paths",
                );
            }
        }
    }

    fn containers(
        &mut self,
        pointer: &str,
        list: &[NimContainerSpec],
        names: &mut BTreeMap<String, String>,
    ) {
        for (i, c) in list.iter().enumerate() {
            let at = format!("{pointer}/{i}");
            if c.name.is_empty() {
                self.refuse(
                    &format!("{at}/name"),
                    "a container without a name".into(),
                    "name the container (a DNS label)",
                );
            } else if let Some(first) = names.insert(c.name.clone(), at.clone()) {
                self.refuse(
                    &format!("{at}/name"),
                    format!(
                        "the container name {:?} is used twice (first at {first})",
                        c.name
                    ),
                    "give each container of the pod its own name",
                );
            }
            self.image(&format!("{at}/image"), &c.image, true);
            self.env(&format!("{at}/env"), &c.env);
        }
    }
}

/// A NIMService's values in its pod template (standalone or pipeline service).
pub(super) fn service(input: &Input, cr: &Cr<NimService>, out: &mut Vec<Diagnostic>) {
    let spec = &cr.object.spec;
    let name = cr.object.name();
    let mut r = Report {
        input,
        origin: cr.origin,
        what: format!("NIMService {name}"),
        out,
    };
    if !spec.image.repository.is_empty() && !spec.image.tag.is_empty() {
        r.image("/spec/image", &spec.image, true);
    }
    r.env("/spec/env", &spec.env);
    let mut names = BTreeMap::from([(format!("{name}-ctr"), "the main container".to_string())]);
    if spec
        .proxy
        .as_ref()
        .is_some_and(|p| !p.cert_config_map.is_empty())
    {
        names.insert(
            "update-ca-certificates".into(),
            "the CA init container".into(),
        );
    }
    r.containers("/spec/initContainers", &spec.init_containers, &mut names);
    r.containers(
        "/spec/sidecarContainers",
        &spec.sidecar_containers,
        &mut names,
    );
    if let Some(pvc) = &spec.storage.pvc {
        r.claim("/spec/storage/pvc", pvc);
    }
    // The legacy Ingress, as the standalone platform renders it (KServe makes its own).
    let kserve = spec.inference_platform.as_deref() == Some("kserve");
    if let Some(ingress) = spec
        .expose
        .ingress
        .as_ref()
        .filter(|i| i.enabled == Some(true) && !kserve)
    {
        let routes = ingress.spec.as_ref().is_some_and(|s| {
            s.default_backend.is_some() || s.rules.as_ref().is_some_and(|r| !r.is_empty())
        });
        if !routes {
            r.refuse(
                "/spec/expose/ingress/spec",
                "expose.ingress.spec has neither rules nor a defaultBackend, so the Ingress is refused".into(),
                "give the Ingress rules (or a defaultBackend), or use expose.router.ingress",
            );
        }
    }
    if spec.storage.host_path.as_deref() == Some("") {
        r.refuse(
            "/spec/storage/hostPath",
            "storage.hostPath reads as empty".into(),
            "give the host path, or use another storage source",
        );
    }
}

/// A NIMCache's values in its Job and PVC, which the operator builds in Go (no trimming).
pub(super) fn cache(input: &Input, cr: &Cr<NimCache>, out: &mut Vec<Diagnostic>) {
    let spec = &cr.object.spec;
    let mut r = Report {
        input,
        origin: cr.origin,
        what: format!("NIMCache {}", cr.object.name()),
        out,
    };
    let puller = spec.source.model_puller();
    let source = match (&spec.source.ngc, &spec.source.data_store, &spec.source.hf) {
        (Some(_), ..) => "ngc",
        (None, Some(_), _) => "dataStore",
        _ => "hf",
    };
    if puller.contains(char::is_whitespace) {
        r.refuse(
            &format!("/spec/source/{source}/modelPuller"),
            format!(
                "the model puller image {puller:?} holds whitespace, so the Job's pods cannot start"
            ),
            "remove the spaces from the image",
        );
    }
    r.env("/spec/env", &spec.env);
    let mut names = BTreeMap::from([(
        "nim-cache-ctr".to_string(),
        "the cache container".to_string(),
    )]);
    for (i, c) in spec.init_containers.iter().enumerate() {
        let at = format!("/spec/initContainers/{i}");
        r.image(&format!("{at}/image"), &c.image, false);
        r.env(&format!("{at}/env"), &c.env);
        if !c.name.is_empty()
            && let Some(first) = names.insert(c.name.clone(), at.clone())
        {
            r.refuse(
                &format!("{at}/name"),
                format!(
                    "the container name {:?} is used twice (first at {first})",
                    c.name
                ),
                "give each container of the Job its own name",
            );
        }
    }
    for k in spec.node_selector.iter().flat_map(|m| m.keys()) {
        if k.is_empty() {
            r.refuse(
                "/spec/nodeSelector",
                "a nodeSelector key is empty".into(),
                "give the node label key",
            );
        }
    }
    if let Some(pvc) = &spec.storage.pvc {
        r.claim("/spec/storage/pvc", pvc);
    }
}
