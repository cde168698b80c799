//! Dynamic Resource Allocation: the ResourceClaimTemplates a NIMService creates
//! (`draResources[].claimCreationSpec`), the pod-level `resourceClaims`, and the container
//! `resources.claims` that reference them. Names use the operator's FNV hash so they match.

use k8s_openapi::api::core::v1::{PodResourceClaim, ResourceClaim};
use k8s_openapi::api::resource::v1::{
    CELDeviceSelector, DeviceClaim, DeviceRequest, DeviceSelector, ExactDeviceRequest,
    ResourceClaimSpec, ResourceClaimTemplate, ResourceClaimTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::meta::{non_empty, object_meta};
use crate::api::{DraDevice, DraResource};
use crate::defaults::{DEFAULT_DEVICE_CLASS, DEFAULT_DRIVER};
use crate::hash::short_hash;
use crate::model::Service;
use crate::quantity;

/// One DRA resource as the pod sees it.
pub struct NamedClaim {
    /// The pod-level claim name (`claim-<H(service)>-<type>-<H(resource)>-<n>`).
    pub pod_claim: String,
    pub claim_name: Option<String>,
    pub template_name: Option<String>,
    pub requests: Vec<String>,
}

/// The name of the template created for `draResources[index]`.
pub fn template_name(s: &Service, index: usize, generate_name: Option<&str>) -> String {
    let prefix = generate_name
        .filter(|g| !g.is_empty())
        .unwrap_or("claimtemplate");
    format!("{prefix}-{}-{index}", short_hash(&s.name))
}

/// Every DRA resource of the service, in `draResources` order, then the ComputeDomain's
/// channel template (field type 2) for a multi-node service that has one.
pub fn named_claims(s: &Service) -> Vec<NamedClaim> {
    let service_hash = short_hash(&s.name);
    let claim =
        |claim_name: Option<String>, template_name: Option<String>, requests: Vec<String>| {
            NamedClaim {
                pod_claim: String::new(),
                claim_name,
                template_name,
                requests,
            }
        };
    // (field type, resource name, claim without its pod claim name yet)
    let mut entries: Vec<(u8, String, NamedClaim)> = s
        .spec
        .dra_resources
        .iter()
        .enumerate()
        .map(|(i, r): (usize, &DraResource)| {
            if let Some(c) = &r.resource_claim_name {
                (
                    0,
                    c.clone(),
                    claim(Some(c.clone()), None, r.requests.clone()),
                )
            } else if let Some(t) = &r.resource_claim_template_name {
                (
                    1,
                    t.clone(),
                    claim(None, Some(t.clone()), r.requests.clone()),
                )
            } else {
                let gen_name = r
                    .claim_creation_spec
                    .as_ref()
                    .and_then(|c| c.generate_name.as_deref());
                let t = template_name(s, i, gen_name);
                (1, t.clone(), claim(None, Some(t), r.requests.clone()))
            }
        })
        .collect();
    if let Some(cd) = s.multinode.as_ref().and_then(|m| m.compute_domain.as_ref()) {
        entries.push((
            2,
            cd.template.clone(),
            claim(None, Some(cd.template.clone()), Vec::new()),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    entries
        .into_iter()
        .map(|(field_type, resource, mut named)| {
            let prefix = format!(
                "claim-{service_hash}-{field_type}-{}",
                short_hash(&resource)
            );
            let n = seen.iter().filter(|p| **p == prefix).count();
            seen.push(prefix.clone());
            named.pod_claim = format!("{prefix}-{n}");
            named
        })
        .collect()
}

/// The template name a created ComputeDomain's channel uses.
pub fn compute_domain_template(service: &str) -> String {
    format!("cd-claimtemplate-{}", short_hash(service))
}

/// The pod's `resourceClaims`.
pub fn pod_claims(s: &Service) -> Vec<PodResourceClaim> {
    named_claims(s)
        .into_iter()
        .map(|c| PodResourceClaim {
            name: c.pod_claim,
            resource_claim_name: c.claim_name,
            resource_claim_template_name: c.template_name,
        })
        .collect()
}

/// The `resources.claims` entries each container gets.
pub fn container_claims(s: &Service) -> Vec<ResourceClaim> {
    named_claims(s)
        .into_iter()
        .flat_map(|c| {
            if c.requests.is_empty() {
                vec![ResourceClaim {
                    name: c.pod_claim,
                    request: None,
                }]
            } else {
                c.requests
                    .iter()
                    .map(|r| ResourceClaim {
                        name: c.pod_claim.clone(),
                        request: Some(r.clone()),
                    })
                    .collect()
            }
        })
        .collect()
}

/// The ResourceClaimTemplates the service creates.
pub fn templates(s: &Service) -> Vec<ResourceClaimTemplate> {
    let labels = s.labels.clone();
    let annotations = s.annotations.clone();
    s.spec
        .dra_resources
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let spec = r.claim_creation_spec.as_ref()?;
            let requests = spec.devices.iter().map(device_request).collect();
            Some(ResourceClaimTemplate {
                metadata: object_meta(
                    template_name(s, i, spec.generate_name.as_deref()),
                    &s.namespace,
                    labels.clone(),
                    annotations.clone(),
                ),
                spec: ResourceClaimTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: non_empty(labels.clone()),
                        annotations: non_empty(annotations.clone()),
                        ..Default::default()
                    }),
                    spec: ResourceClaimSpec {
                        devices: Some(DeviceClaim {
                            requests: Some(requests),
                            ..Default::default()
                        }),
                    },
                },
            })
        })
        .collect()
}

fn device_request(d: &DraDevice) -> DeviceRequest {
    let selectors = cel_expressions(d)
        .into_iter()
        .map(|e| DeviceSelector {
            cel: Some(CELDeviceSelector { expression: e }),
        })
        .collect();
    DeviceRequest {
        name: d.name.clone(),
        exactly: Some(ExactDeviceRequest {
            allocation_mode: Some("ExactCount".into()),
            count: Some(i64::from(d.count.unwrap_or(1))),
            device_class_name: d
                .device_class_name
                .clone()
                .unwrap_or_else(|| DEFAULT_DEVICE_CLASS.into()),
            selectors: Some(selectors),
            ..Default::default()
        }),
        first_available: None,
    }
}

/// The CEL selectors of a device: the driver match, then the user's expressions or the ones
/// generated from attribute and capacity selectors.
pub fn cel_expressions(d: &DraDevice) -> Vec<String> {
    let driver = d.driver_name.as_deref().unwrap_or(DEFAULT_DRIVER);
    let mut out = vec![format!("device.driver == {}", go_quote(driver))];
    if !d.cel_expressions.is_empty() {
        out.extend(d.cel_expressions.iter().cloned());
        return out;
    }
    for a in &d.attribute_selectors {
        let (domain, name) = split_qualified(&a.key, driver);
        let base = format!("device.attributes[{}].{name}", go_quote(domain));
        let op = cel_op(a.op.as_deref().unwrap_or("Equal"));
        let Some(v) = &a.value else { continue };
        if let Some(b) = v.bool_value {
            out.push(format!("{base} {op} {b}"));
        } else if let Some(i) = v.int_value {
            out.push(format!("{base} {op} {i}"));
        } else if let Some(s) = &v.string_value {
            out.push(format!("{base} {op} {}", go_quote(s)));
        } else if let Some(ver) = &v.version_value {
            out.push(format!(
                "({base}).compareTo(semver({})) {op} 0",
                go_quote(ver)
            ));
        }
    }
    for c in &d.capacity_selectors {
        let (domain, name) = split_qualified(&c.key, driver);
        let base = format!("device.capacity[{}].{name}", go_quote(domain));
        let op = cel_op(c.op.as_deref().unwrap_or("Equal"));
        let q = quantity::canonical(c.value.as_ref().map(|q| q.0.as_str()).unwrap_or("0"));
        out.push(format!(
            "({base}).compareTo(quantity({})) {op} 0",
            go_quote(&q)
        ));
    }
    out
}

/// `domain/name`, or the driver as domain when the key has no slash.
fn split_qualified<'a>(key: &'a str, driver: &'a str) -> (&'a str, &'a str) {
    match key.split_once('/') {
        Some((d, n)) => (d, n),
        None => (driver, key),
    }
}

fn cel_op(op: &str) -> &'static str {
    match op {
        "NotEqual" => "!=",
        "GreaterThan" => ">",
        "GreaterThanOrEqual" => ">=",
        "LessThan" => "<",
        "LessThanOrEqual" => "<=",
        _ => "==",
    }
}

/// True for the six selector operators.
pub fn valid_op(op: &str) -> bool {
    matches!(
        op,
        "Equal"
            | "NotEqual"
            | "GreaterThan"
            | "GreaterThanOrEqual"
            | "LessThan"
            | "LessThanOrEqual"
    )
}

/// Strict semantic version text (`MAJOR.MINOR.PATCH[-pre][+build]`, no leading zeros).
pub fn is_semver(v: &str) -> bool {
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let nums: Vec<&str> = core.split('.').collect();
    let numeric = |p: &str| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p == "0" || !p.starts_with('0'))
    };
    if nums.len() != 3 || !nums.iter().all(|p| numeric(p)) {
        return false;
    }
    let ident =
        |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let (pre, build) = match rest.split_once('+') {
        Some((p, b)) => (p, Some(b)),
        None => (rest, None),
    };
    let pre_ok = pre.is_empty()
        || pre.strip_prefix('-').is_some_and(|p| {
            p.split('.')
                .all(|x| ident(x) && (!x.bytes().all(|b| b.is_ascii_digit()) || numeric(x)))
        });
    let build_ok = build.is_none_or(|b| b.split('.').all(ident));
    pre_ok && build_ok
}

/// A Go `%q` string: double-quoted with Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        assert!(is_semver("1.2.3"));
        assert!(is_semver("1.2.3-rc.1+build.5"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("01.2.3"));
    }
}
