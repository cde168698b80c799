//! The API server's own validation of the objects nimc renders, so that nothing nimc accepts
//! fails at apply time. One pass over every rendered object (as JSON) checks what Kubernetes
//! checks for those kinds: object metadata (label and annotation keys and values), pod
//! templates wherever they are (Deployment, Job, LeaderWorkerSet leader and worker, the
//! InferenceService predictor, whose pods would be refused later): node selectors,
//! tolerations, node affinity, security context, class names, containers (names, images, pull
//! policies, ports, env, resources and extended resources, probes, volume mounts) and volumes;
//! Services (type, ports), PVCs, HPAs and Ingresses.
//!
//! Each violation is reported at the custom resource field its value came from: the value (or
//! map key) is looked up in the resource, first under the fields the object path suggests, and
//! the diagnostic (NIMC039) names the object path and the API server's reason.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::load::{Input, Origin};
use crate::quantity;
use crate::render::Rendered;

/// What the API server refuses in one object (its JSON form), as located violations wait for.
pub fn violations(kind: &str, obj: &Value) -> Vec<Violation> {
    let mut v = Violations::default();
    object(kind, obj, &mut v);
    v.0
}

/// Every violation found in `objects` (see [`violations`]), located in the resources of
/// `input`.
pub fn check(objects: &[Rendered], input: &Input) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    // Each resource's JSON form, made once.
    let mut resources: std::collections::BTreeMap<Origin, Option<Value>> = Default::default();
    for r in objects.iter().filter(|r| !r.problems.is_empty()) {
        let Some(origin) = r.origin else { continue };
        let cr = resources
            .entry(origin)
            .or_insert_with(|| input.json(origin, ""));
        for x in &r.problems {
            let pointer = locate(cr.as_ref(), x);
            let message = format!("{}/{} {}: {}", r.kind, r.name, x.path, x.problem);
            // One diagnostic per field and problem, however many objects repeat the value.
            if seen.insert((origin, pointer.clone(), x.path.clone(), x.problem.clone())) {
                out.push(
                    input.diag("NIMC039", origin, &pointer, message).help(
                        "the API server refuses this object; change the value in the resource",
                    ),
                );
            }
        }
    }
    out
}

/// A problem at an object path, with what to look for in the resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    path: String,
    problem: String,
    /// The offending value or map key, as the resource spells it.
    find: Find,
    /// Where in the resource such values live (JSON pointers, most likely first).
    hint: &'static [&'static str],
}

#[derive(Clone, Debug, PartialEq)]
enum Find {
    Key(String),
    Value(Value),
    Nothing,
}

#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn add(&mut self, path: &str, problem: String, find: Find, hint: &'static [&'static str]) {
        self.0.push(Violation {
            path: path.to_string(),
            problem,
            find,
            hint,
        });
    }
}

const LABELS: &[&str] = &[
    "/spec/labels",
    "/spec/expose/service/labels",
    "/spec/metrics/serviceMonitor/additionalLabels",
    "/metadata/labels",
];
const ANNOTATIONS: &[&str] = &[
    "/spec/annotations",
    "/spec/expose/service/annotations",
    "/spec/expose/router/annotations",
    "/spec/expose/ingress/annotations",
    "/spec/scale/annotations",
    "/spec/storage/pvc/annotations",
    "/metadata/annotations",
];
const POD: &[&str] = &["/spec"];

/// One part of an RFC 1123 name: lowercase alphanumerics and '-', alphanumeric at both ends.
fn dns_part(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !p.starts_with('-')
        && !p.ends_with('-')
}

/// A lowercase RFC 1123 label (container and volume names).
fn dns_label(s: &str) -> bool {
    s.len() <= 63 && dns_part(s)
}

/// A lowercase RFC 1123 subdomain: at most 253 characters in all (no limit per part).
fn dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns_part)
}

fn name_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

/// A qualified name (`[prefix/]name`): label and annotation keys, toleration keys.
fn qualified_name(s: &str) -> Option<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".into());
        }
        if !dns_subdomain(p) {
            return Some("prefix part must be a lowercase DNS subdomain".into());
        }
    }
    if !name_part(name) {
        return Some(
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric".into(),
        );
    }
    None
}

fn label_value(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if s.len() > 63 {
        return Some("a label value must be no more than 63 bytes".into());
    }
    (!name_part(s)).then(|| {
        "a label value must consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric".into()
    })
}

fn at(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_string(),
        false => format!("{path}.{key}"),
    }
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn object(kind: &str, o: &Value, v: &mut Violations) {
    metadata(&o["metadata"], "metadata", v);
    match kind {
        "Deployment" | "Job" => template(&o["spec"]["template"], "spec.template", v),
        "LeaderWorkerSet" => {
            let lwt = &o["spec"]["leaderWorkerTemplate"];
            for role in ["leaderTemplate", "workerTemplate"] {
                if lwt.get(role).is_some() {
                    template(&lwt[role], &format!("spec.leaderWorkerTemplate.{role}"), v);
                }
            }
        }
        "InferenceService" => pod(&o["spec"]["predictor"], "spec.predictor", v),
        "Service" => service(&o["spec"], v),
        "PersistentVolumeClaim" => {
            if let Some(sc) = str_at(&o["spec"], "storageClassName")
                .filter(|s| !s.is_empty() && !dns_subdomain(s))
            {
                v.add(
                    "spec.storageClassName",
                    format!("{sc:?} is not a lowercase DNS subdomain"),
                    Find::Value(sc.into()),
                    &["/spec/storage/pvc/storageClass"],
                );
            }
        }
        "HorizontalPodAutoscaler" => {
            let min = o["spec"]["minReplicas"].as_i64().unwrap_or(1);
            let max = o["spec"]["maxReplicas"].as_i64().unwrap_or(0);
            if min < 1 {
                v.add(
                    "spec.minReplicas",
                    format!("{min} must be at least 1"),
                    Find::Value(min.into()),
                    &["/spec/scale/hpa/minReplicas"],
                );
            }
            if max < min.max(1) {
                v.add(
                    "spec.maxReplicas",
                    format!("{max} must be at least minReplicas ({min}) and 1"),
                    Find::Value(max.into()),
                    &["/spec/scale/hpa/maxReplicas"],
                );
            }
        }
        "Ingress" => {
            let spec = &o["spec"];
            if let Some(c) = str_at(spec, "ingressClassName").filter(|c| !dns_subdomain(c)) {
                v.add(
                    "spec.ingressClassName",
                    format!("{c:?} is not a lowercase DNS subdomain"),
                    Find::Value(c.into()),
                    &[
                        "/spec/expose/router/ingress/ingressClass",
                        "/spec/expose/ingress/spec/ingressClassName",
                    ],
                );
            }
            for (i, t) in spec["tls"].as_array().into_iter().flatten().enumerate() {
                if let Some(s) =
                    str_at(t, "secretName").filter(|s| !s.is_empty() && !dns_subdomain(s))
                {
                    v.add(
                        &format!("spec.tls[{i}].secretName"),
                        format!("{s:?} is not a lowercase DNS subdomain"),
                        Find::Value(s.into()),
                        &[
                            "/spec/expose/router/ingress/tlsSecretName",
                            "/spec/expose/ingress/spec/tls",
                        ],
                    );
                }
            }
        }
        _ => {}
    }
}

fn metadata(m: &Value, path: &str, v: &mut Violations) {
    for (k, val) in m["labels"].as_object().into_iter().flatten() {
        if let Some(p) = qualified_name(k) {
            v.add(
                &format!("{path}.labels"),
                format!("key {k:?}: {p}"),
                Find::Key(k.clone()),
                LABELS,
            );
        }
        if let Some(p) = val.as_str().and_then(label_value) {
            v.add(
                &format!("{path}.labels[{k}]"),
                format!("{val}: {p}"),
                Find::Value(val.clone()),
                LABELS,
            );
        }
    }
    for k in m["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        // The API server checks annotation keys lowercased.
        if let Some(p) = qualified_name(&k.to_lowercase()) {
            v.add(
                &format!("{path}.annotations"),
                format!("key {k:?}: {p}"),
                Find::Key(k.clone()),
                ANNOTATIONS,
            );
        }
    }
}

fn template(t: &Value, path: &str, v: &mut Violations) {
    metadata(&t["metadata"], &at(path, "metadata"), v);
    pod(&t["spec"], &at(path, "spec"), v);
}

fn pod(p: &Value, path: &str, v: &mut Violations) {
    for (k, val) in p["nodeSelector"].as_object().into_iter().flatten() {
        if let Some(e) = qualified_name(k) {
            v.add(
                &at(path, "nodeSelector"),
                format!("key {k:?}: {e}"),
                Find::Key(k.clone()),
                &["/spec/nodeSelector"],
            );
        }
        if let Some(e) = val.as_str().and_then(label_value) {
            v.add(
                &at(path, "nodeSelector"),
                format!("{val}: {e}"),
                Find::Value(val.clone()),
                &["/spec/nodeSelector"],
            );
        }
    }
    for field in [
        "priorityClassName",
        "runtimeClassName",
        "serviceAccountName",
    ] {
        if let Some(s) = str_at(p, field).filter(|s| !dns_subdomain(s)) {
            v.add(
                &at(path, field),
                format!("{s:?} is not a lowercase DNS subdomain"),
                Find::Value(s.into()),
                POD,
            );
        }
    }
    for (i, t) in p["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        toleration(t, &format!("{path}.tolerations[{i}]"), v);
    }
    for field in ["runAsUser", "runAsGroup", "fsGroup"] {
        if let Some(n) = p["securityContext"][field]
            .as_i64()
            .filter(|n| !(0..=i64::from(i32::MAX)).contains(n))
        {
            v.add(
                &format!("{path}.securityContext.{field}"),
                format!("{n} must be between 0 and 2147483647"),
                Find::Value(n.into()),
                &["/spec/userID", "/spec/groupID"],
            );
        }
    }
    node_affinity(
        &p["affinity"]["nodeAffinity"],
        &format!("{path}.affinity.nodeAffinity"),
        v,
    );
    let volumes: Vec<&str> = p["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| str_at(x, "name"))
        .collect();
    for (i, vol) in p["volumes"].as_array().into_iter().flatten().enumerate() {
        let vp = format!("{path}.volumes[{i}]");
        if let Some(q) = vol["emptyDir"]["sizeLimit"]
            .as_str()
            .filter(|q| !quantity::parse_ok(q) || q.starts_with('-'))
        {
            v.add(
                &format!("{vp}.emptyDir.sizeLimit"),
                format!("{q:?} must be a non-negative quantity"),
                Find::Value(q.into()),
                &[
                    "/spec/storage/emptyDir/sizeLimit",
                    "/spec/storage/sharedMemorySizeLimit",
                ],
            );
        }
        if let Some(c) = vol["persistentVolumeClaim"]["claimName"]
            .as_str()
            .filter(|c| !dns_subdomain(c))
        {
            v.add(
                &format!("{vp}.persistentVolumeClaim.claimName"),
                format!("{c:?} is not a lowercase DNS subdomain"),
                Find::Value(c.into()),
                &["/spec/storage/pvc/name", "/spec/storage/nimCache/name"],
            );
        }
        if let Some(h) = vol["hostPath"]["path"]
            .as_str()
            .filter(|h| h.split('/').any(|s| s == ".."))
        {
            v.add(
                &format!("{vp}.hostPath.path"),
                format!("{h:?} must not contain '..'"),
                Find::Value(h.into()),
                &["/spec/storage/hostPath"],
            );
        }
    }
    let mut names = BTreeSet::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in p[list].as_array().into_iter().flatten().enumerate() {
            container(c, &format!("{path}.{list}[{i}]"), &volumes, &mut names, v);
        }
    }
}

fn toleration(t: &Value, path: &str, v: &mut Violations) {
    let key = str_at(t, "key").unwrap_or_default();
    let op = str_at(t, "operator").unwrap_or_default();
    let value = str_at(t, "value").unwrap_or_default();
    let effect = str_at(t, "effect").unwrap_or_default();
    const HINT: &[&str] = &["/spec/tolerations"];
    if !key.is_empty()
        && let Some(e) = qualified_name(key)
    {
        v.add(
            &format!("{path}.key"),
            format!("{key:?}: {e}"),
            Find::Value(key.into()),
            HINT,
        );
    }
    match op {
        "" | "Equal" => {
            if key.is_empty() {
                v.add(
                    &format!("{path}.operator"),
                    "an empty key needs operator Exists".into(),
                    Find::Value(op.into()),
                    HINT,
                );
            }
            if let Some(e) = label_value(value) {
                v.add(
                    &format!("{path}.value"),
                    format!("{value:?}: {e}"),
                    Find::Value(value.into()),
                    HINT,
                );
            }
        }
        "Exists" if !value.is_empty() => {
            v.add(
                &format!("{path}.operator"),
                "value must be empty when operator is Exists".into(),
                Find::Value(value.into()),
                HINT,
            );
        }
        "Exists" => {}
        other => v.add(
            &format!("{path}.operator"),
            format!("{other:?} is not Equal or Exists"),
            Find::Value(other.into()),
            HINT,
        ),
    }
    if !["", "NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        v.add(
            &format!("{path}.effect"),
            format!("{effect:?} is not NoSchedule, PreferNoSchedule or NoExecute"),
            Find::Value(effect.into()),
            HINT,
        );
    }
    if t.get("tolerationSeconds").is_some_and(|s| !s.is_null()) && effect != "NoExecute" {
        v.add(
            &format!("{path}.effect"),
            "tolerationSeconds needs effect NoExecute".into(),
            Find::Nothing,
            HINT,
        );
    }
}

fn node_affinity(a: &Value, path: &str, v: &mut Violations) {
    const HINT: &[&str] = &["/spec/affinity/nodeAffinity"];
    let required = &a["requiredDuringSchedulingIgnoredDuringExecution"];
    if required.is_object() {
        let terms = required["nodeSelectorTerms"].as_array().map_or(0, Vec::len);
        if terms == 0 {
            v.add(
                &format!("{path}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"),
                "must have at least one node selector term".into(),
                Find::Nothing,
                HINT,
            );
        }
    }
    let terms = required["nodeSelectorTerms"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            a["preferredDuringSchedulingIgnoredDuringExecution"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| &p["preference"]),
        );
    for term in terms {
        for field in ["matchExpressions", "matchFields"] {
            for e in term[field].as_array().into_iter().flatten() {
                let key = str_at(e, "key").unwrap_or_default();
                let values = e["values"].as_array().map_or(0, Vec::len);
                let op = str_at(e, "operator").unwrap_or_default();
                let problem = match op {
                    "In" | "NotIn" if values == 0 => Some("values must be given for In and NotIn"),
                    "Exists" | "DoesNotExist" if values > 0 => {
                        Some("values must be empty for Exists and DoesNotExist")
                    }
                    "Gt" | "Lt" if values != 1 => Some("Gt and Lt take exactly one value"),
                    "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => None,
                    _ => Some("the operator is not In, NotIn, Exists, DoesNotExist, Gt or Lt"),
                };
                if let Some(p) = problem {
                    v.add(
                        &format!("{path}.{field}"),
                        format!("{key}: {p}"),
                        Find::Value(key.into()),
                        HINT,
                    );
                }
                if field == "matchExpressions"
                    && let Some(p) = qualified_name(key)
                {
                    v.add(
                        &format!("{path}.{field}"),
                        format!("key {key:?}: {p}"),
                        Find::Value(key.into()),
                        HINT,
                    );
                }
            }
        }
    }
}

const CONTAINERS: &[&str] = &["/spec/initContainers", "/spec/sidecarContainers", "/spec"];

fn container(
    c: &Value,
    path: &str,
    volumes: &[&str],
    names: &mut BTreeSet<String>,
    v: &mut Violations,
) {
    let name = str_at(c, "name").unwrap_or_default();
    if !dns_label(name) {
        v.add(
            &format!("{path}.name"),
            format!("{name:?} is not a lowercase DNS label"),
            Find::Value(name.into()),
            CONTAINERS,
        );
    } else if !names.insert(name.to_string()) {
        v.add(
            &format!("{path}.name"),
            format!("{name:?} is used by two containers"),
            Find::Value(name.into()),
            CONTAINERS,
        );
    }
    if str_at(c, "image").is_none_or(|i| i.trim().is_empty()) {
        v.add(
            &format!("{path}.image"),
            "an image is required".into(),
            Find::Nothing,
            CONTAINERS,
        );
    }
    if let Some(p) =
        str_at(c, "imagePullPolicy").filter(|p| !["Always", "IfNotPresent", "Never"].contains(p))
    {
        v.add(
            &format!("{path}.imagePullPolicy"),
            format!("{p:?} is not Always, IfNotPresent or Never"),
            Find::Value(p.into()),
            &["/spec/image/pullPolicy"],
        );
    }
    let mut ports = BTreeSet::new();
    for (i, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
        let n = p["containerPort"].as_i64().unwrap_or(0);
        let proto = str_at(p, "protocol").unwrap_or("TCP");
        if !ports.insert((n, proto.to_string())) {
            v.add(
                &format!("{path}.ports[{i}]"),
                format!("port {n}/{proto} is listed twice"),
                Find::Value(n.into()),
                &["/spec/expose/service"],
            );
        }
    }
    env(c, path, v);
    resources(&c["resources"], &format!("{path}.resources"), v);
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if c.get(probe).is_some_and(Value::is_object) {
            self::probe(&c[probe], probe, &format!("{path}.{probe}"), v);
        }
    }
    for (i, m) in c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mp = format!("{path}.volumeMounts[{i}]");
        if let Some(n) = str_at(m, "name").filter(|n| !volumes.contains(n)) {
            v.add(
                &format!("{mp}.name"),
                format!("no volume is named {n:?}"),
                Find::Nothing,
                &["/spec/storage"],
            );
        }
        if let Some(s) = str_at(m, "subPath") {
            let problem = if s.starts_with('/') {
                Some("must be a relative path")
            } else if s.split('/').any(|x| x == "..") {
                Some("must not contain '..'")
            } else {
                None
            };
            if let Some(p) = problem {
                v.add(
                    &format!("{mp}.subPath"),
                    format!("{s:?} {p}"),
                    Find::Value(s.into()),
                    &["/spec/storage/pvc/subPath"],
                );
            }
        }
    }
}

fn env(c: &Value, path: &str, v: &mut Violations) {
    const HINT: &[&str] = &[
        "/spec/env",
        "/spec/initContainers",
        "/spec/sidecarContainers",
        "/spec",
    ];
    const FIELDS: &[&str] = &[
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    const RESOURCES: &[&str] = &[
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
    ];
    for (i, e) in c["env"].as_array().into_iter().flatten().enumerate() {
        let ep = format!("{path}.env[{i}]");
        let name = str_at(e, "name").unwrap_or_default();
        if name.is_empty() {
            v.add(
                &format!("{ep}.name"),
                "an env var needs a name".into(),
                Find::Nothing,
                HINT,
            );
        } else if !name.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'=') {
            v.add(
                &format!("{ep}.name"),
                format!("{name:?} must be printable ASCII other than '='"),
                Find::Value(name.into()),
                HINT,
            );
        }
        let Some(from) = e.get("valueFrom").filter(|f| f.is_object()) else {
            continue;
        };
        if str_at(e, "value").is_some_and(|s| !s.is_empty()) {
            v.add(
                &format!("{ep}.valueFrom"),
                format!("env {name}: valueFrom may not be given with a value"),
                Find::Value(name.into()),
                HINT,
            );
        }
        let sources = [
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
            "fileKeyRef",
        ]
        .iter()
        .filter(|s| from.get(**s).is_some_and(|x| !x.is_null()))
        .count();
        if sources != 1 {
            v.add(
                &format!("{ep}.valueFrom"),
                format!("env {name}: valueFrom needs exactly one source, has {sources}"),
                Find::Value(name.into()),
                HINT,
            );
        }
        if let Some(f) = from["fieldRef"]["fieldPath"].as_str() {
            let labelled = ["metadata.labels['", "metadata.annotations['"]
                .iter()
                .any(|p| f.starts_with(p) && f.ends_with("']"));
            if !FIELDS.contains(&f) && !labelled {
                v.add(
                    &format!("{ep}.valueFrom.fieldRef.fieldPath"),
                    format!("{f:?} is not a field the pod can expose"),
                    Find::Value(f.into()),
                    HINT,
                );
            }
        }
        if let Some(r) = from["resourceFieldRef"]["resource"].as_str()
            && !RESOURCES.contains(&r)
            && !r.starts_with("limits.hugepages-")
            && !r.starts_with("requests.hugepages-")
        {
            v.add(
                &format!("{ep}.valueFrom.resourceFieldRef.resource"),
                format!("{r:?} is not a resource the pod can expose"),
                Find::Value(r.into()),
                HINT,
            );
        }
        for kind in ["secretKeyRef", "configMapKeyRef"] {
            if let Some(n) = from[kind]["name"]
                .as_str()
                .filter(|n| !n.is_empty() && !dns_subdomain(n))
            {
                v.add(
                    &format!("{ep}.valueFrom.{kind}.name"),
                    format!("{n:?} is not a lowercase DNS subdomain"),
                    Find::Value(n.into()),
                    &["/spec/authSecret", "/spec/env", "/spec"],
                );
            }
        }
    }
}

/// Resource names Kubernetes knows without a domain.
const STANDARD: &[&str] = &["cpu", "memory", "ephemeral-storage", "storage", "pods"];

fn resources(r: &Value, path: &str, v: &mut Violations) {
    const HINT: &[&str] = &["/spec/resources", "/spec"];
    let (req, lim) = (&r["requests"], &r["limits"]);
    let q = |m: &Value, k: &str| -> Option<String> {
        match &m[k] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    for (field, map) in [("requests", req), ("limits", lim)] {
        for (k, _) in map.as_object().into_iter().flatten() {
            let standard = STANDARD.contains(&k.as_str()) || k.starts_with("hugepages-");
            if !standard && (!k.contains('/') || qualified_name(k).is_some()) {
                v.add(
                    &format!("{path}.{field}[{k}]"),
                    format!("{k:?} must be a standard resource or fully qualified"),
                    Find::Key(k.clone()),
                    HINT,
                );
                continue;
            }
            if q(map, k)
                .and_then(|s| quantity::nano_value(&s))
                .is_some_and(|n| n < 0)
            {
                v.add(
                    &format!("{path}.{field}[{k}]"),
                    "must not be negative".into(),
                    Find::Key(k.clone()),
                    HINT,
                );
            }
        }
    }
    for (k, _) in req.as_object().into_iter().flatten() {
        let extended =
            k.contains('/') && !k.contains("kubernetes.io/") && !k.starts_with("hugepages-");
        let (Some(r), l) = (q(req, k), q(lim, k)) else {
            continue;
        };
        match l {
            None if extended => v.add(
                &format!("{path}.limits"),
                format!("{k} is requested without a limit; a limit must be set for non overcommitable resources"),
                Find::Key(k.clone()),
                HINT,
            ),
            Some(l) => {
                let (rn, ln) = (quantity::nano_value(&r), quantity::nano_value(&l));
                if let (Some(rn), Some(ln)) = (rn, ln) {
                    if extended && rn != ln {
                        v.add(&format!("{path}.requests[{k}]"), format!("{r} must equal the {k} limit of {l}"), Find::Key(k.clone()), HINT);
                    } else if rn > ln {
                        v.add(&format!("{path}.requests[{k}]"), format!("{r} must be at most the {k} limit of {l}"), Find::Key(k.clone()), HINT);
                    }
                }
            }
            None => {}
        }
    }
}

fn probe(p: &Value, kind: &'static str, path: &str, v: &mut Violations) {
    let hint: &'static [&'static str] = match kind {
        "livenessProbe" => &["/spec/livenessProbe"],
        "readinessProbe" => &["/spec/readinessProbe"],
        _ => &["/spec/startupProbe"],
    };
    let handlers = ["exec", "httpGet", "tcpSocket", "grpc"]
        .iter()
        .filter(|h| p.get(**h).is_some_and(|x| !x.is_null()))
        .count();
    match handlers {
        0 => v.add(
            path,
            "must specify a handler (exec, httpGet, tcpSocket or grpc)".into(),
            Find::Nothing,
            hint,
        ),
        1 => {}
        _ => v.add(
            path,
            "may not specify more than one handler".into(),
            Find::Nothing,
            hint,
        ),
    }
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
        "terminationGracePeriodSeconds",
    ] {
        if let Some(n) = p[field].as_i64().filter(|n| *n < 0) {
            v.add(
                &format!("{path}.{field}"),
                format!("{n} must not be negative"),
                Find::Value(n.into()),
                hint,
            );
        }
    }
    if kind != "readinessProbe"
        && let Some(n) = p["successThreshold"].as_i64().filter(|n| *n > 1)
    {
        v.add(
            &format!("{path}.successThreshold"),
            format!("{n} must be 1 for a {kind}"),
            Find::Value(n.into()),
            hint,
        );
    }
}

fn service(s: &Value, v: &mut Violations) {
    const HINT: &[&str] = &["/spec/expose/service"];
    if let Some(t) = str_at(s, "type")
        .filter(|t| !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(t))
    {
        v.add(
            "spec.type",
            format!("{t:?} is not ClusterIP, NodePort, LoadBalancer or ExternalName"),
            Find::Value(t.into()),
            HINT,
        );
    }
    let mut seen = BTreeSet::new();
    for (i, p) in s["ports"].as_array().into_iter().flatten().enumerate() {
        let n = p["port"].as_i64().unwrap_or(0);
        let proto = str_at(p, "protocol").unwrap_or("TCP");
        if !seen.insert((n, proto.to_string())) {
            v.add(
                &format!("spec.ports[{i}]"),
                format!("port {n}/{proto} is listed twice"),
                Find::Value(n.into()),
                HINT,
            );
        }
    }
}

/// The resource field a violation came from: the offending key or value under the hinted
/// fields (then anywhere in the spec), else the first hinted field that exists.
fn locate(cr: Option<&Value>, x: &Violation) -> String {
    let Some(cr) = cr else {
        return "/spec".into();
    };
    // The field the object path ends in (`successThreshold` of `...livenessProbe.successThreshold`):
    // a value under a key of that name is the likeliest source.
    let field = x
        .path
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .split('[')
        .next()
        .unwrap_or_default();
    let mut found = None;
    'scopes: for scope in x.hint.iter().copied().chain(["/spec", "/metadata"]) {
        if let Some(node) = cr.pointer(scope) {
            for named in [Some(field), None] {
                found = search(node, &x.find, scope.to_string(), named);
                if found.is_some() {
                    break 'scopes;
                }
            }
        }
    }
    found
        .or_else(|| {
            x.hint
                .iter()
                .find(|h| cr.pointer(h).is_some())
                .map(|h| h.to_string())
        })
        .unwrap_or_else(|| "/spec".into())
}

fn search(v: &Value, find: &Find, path: String, key: Option<&str>) -> Option<String> {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match (v, find) {
        (_, Find::Nothing) => None,
        (Value::Object(m), _) => {
            if let Find::Key(k) = find
                && m.contains_key(k)
            {
                return Some(format!("{path}/{}", escape(k)));
            }
            m.iter().find_map(|(k, x)| {
                // With a key name, a leaf must sit under it.
                let leaf = !x.is_object() && !x.is_array();
                if leaf && key.is_some_and(|want| want != k) && matches!(find, Find::Value(_)) {
                    return None;
                }
                search(x, find, format!("{path}/{}", escape(k)), key)
            })
        }
        (Value::Array(a), _) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| search(x, find, format!("{path}/{i}"), key)),
        (leaf, Find::Value(want)) => (leaf == want
            || leaf
                .as_str()
                .zip(want.as_str())
                .is_some_and(|(a, b)| a.trim() == b)
            || leaf.to_string().trim_matches('"') == want.to_string().trim_matches('"'))
        .then_some(path),
        _ => None,
    }
}
