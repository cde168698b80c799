//! The endpoint picker (EPP, `expose.router.eppConfig`): its ServiceAccount, Role, RoleBinding,
//! optional ConfigMap, Service and Deployment, and the InferencePool that points at it.
//!
//! The inline config is re-serialised the way the operator does it: decoded into the upstream
//! `EndpointPickerConfig` type (unknown fields dropped, non-omitempty fields printed as null or
//! ""), then printed as YAML with sorted keys in go-yaml's style.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, GRPCAction, LocalObjectReference,
    PodSpec, Probe, Service as CoreService, ServiceAccount, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::Object;
use super::crd::{self, EndpointPickerRef, InferencePool, InferencePoolSpec, PortNumber};
use super::meta::{Map, env_list, object_meta, some_vec};
use super::network::api_port;
use super::rbac::binding;
use super::workload::{deployment_spec, pod_labels};
use crate::api::EppConfig;
use crate::model::Service;

const EXT_PROC_PORT: i32 = 9002;

/// All EPP objects, in the operator's order; empty when no EPP is configured.
pub fn objects(s: &Service) -> Vec<Object> {
    let Some(epp) = s
        .spec
        .expose
        .router
        .as_ref()
        .and_then(|r| r.epp_config.as_ref())
    else {
        return Vec::new();
    };
    let name = format!("{}-epp", s.name);
    let labels = s.labels.clone();
    let meta = |n: &str| object_meta(n, &s.namespace, labels.clone(), Map::new());
    let read = |groups: &[&str], resources: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: vec!["get".into(), "watch".into(), "list".into()],
        ..Default::default()
    };
    let mut out = vec![
        Object::ServiceAccount(ServiceAccount {
            metadata: meta(&name),
            ..Default::default()
        }),
        Object::Role(Role {
            metadata: meta(&name),
            rules: Some(vec![
                read(
                    &["inference.networking.k8s.io"],
                    &["inferencepools", "inferenceobjectives"],
                ),
                read(
                    &["inference.networking.x-k8s.io"],
                    &["inferencepools", "inferenceobjectives"],
                ),
                read(&[""], &["pods"]),
            ]),
        }),
        Object::RoleBinding(binding(&name, &name, &name, &s.namespace, labels.clone())),
    ];
    let config_map = format!("{}-epp-config", s.name);
    if let Some(cfg) = &epp.config {
        out.push(Object::ConfigMap(ConfigMap {
            metadata: meta(&config_map),
            data: Some(BTreeMap::from([(
                "default-plugins.yaml".to_string(),
                config_yaml(cfg),
            )])),
            ..Default::default()
        }));
    }
    let ports = container_ports(epp);
    out.push(Object::Service(CoreService {
        metadata: meta(&name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(Map::from([("app".into(), name.clone())])),
            ports: some_vec(&service_ports(epp)),
            ..Default::default()
        }),
        status: None,
    }));
    out.push(Object::Deployment(Box::new(deployment(
        s,
        epp,
        &name,
        &config_map,
        ports,
        meta(&name),
        &labels,
    ))));
    out.push(Object::InferencePool(InferencePool {
        api_version: "inference.networking.k8s.io/v1",
        kind: "InferencePool",
        metadata: meta(&s.name),
        spec: InferencePoolSpec {
            endpoint_picker_ref: EndpointPickerRef {
                name,
                port: PortNumber {
                    number: EXT_PROC_PORT,
                },
            },
            selector: crd::LabelSelector {
                match_labels: Map::from([("app".into(), s.name.clone())]),
            },
            target_ports: vec![PortNumber {
                number: api_port(s),
            }],
        },
    }));
    out
}

fn default_ports() -> Vec<ContainerPort> {
    [
        ("grpc-ext-proc", 9002),
        ("grpc-health", 9003),
        ("http-metrics", 9090),
    ]
    .into_iter()
    .map(|(n, p)| ContainerPort {
        name: Some(n.into()),
        container_port: p,
        protocol: Some("TCP".into()),
        ..Default::default()
    })
    .collect()
}

fn container_ports(epp: &EppConfig) -> Vec<ContainerPort> {
    epp.ports.clone().unwrap_or_else(default_ports)
}

fn service_ports(epp: &EppConfig) -> Vec<ServicePort> {
    match &epp.ports {
        None => [("grpc-ext-proc", 9002), ("http-metrics", 9090)]
            .into_iter()
            .map(|(n, p)| ServicePort {
                name: Some(n.into()),
                port: p,
                target_port: Some(IntOrString::Int(p)),
                protocol: Some("TCP".into()),
                ..Default::default()
            })
            .collect(),
        Some(ports) => ports
            .iter()
            .map(|p| ServicePort {
                name: p.name.clone(),
                port: p.container_port,
                target_port: Some(IntOrString::Int(p.container_port)),
                protocol: p.protocol.clone(),
                ..Default::default()
            })
            .collect(),
    }
}

fn default_probe() -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port: 9003,
            service: None,
        }),
        initial_delay_seconds: Some(5),
        period_seconds: Some(10),
        ..Default::default()
    }
}

fn deployment(
    s: &Service,
    epp: &EppConfig,
    name: &str,
    config_map: &str,
    ports: Vec<ContainerPort>,
    metadata: ObjectMeta,
    labels: &Map,
) -> Deployment {
    let c = &epp.container_spec;
    let image = if c.image.repository.is_empty() {
        String::new()
    } else {
        let tag = if c.image.tag.is_empty() {
            "latest"
        } else {
            &c.image.tag
        };
        format!("{}:{tag}", c.image.repository)
    };
    let config_file = if epp.config.is_some() {
        "/config/default-plugins.yaml".to_string()
    } else if let Some(r) = &epp.config_map_ref {
        format!("/config/{}", r.key)
    } else {
        String::new()
    };
    let args = if let Some(args) = &c.args {
        args.clone()
    } else {
        vec![
            "--pool-name".to_string(),
            s.name.clone(),
            "--pool-namespace".into(),
            s.namespace.clone(),
            "--pool-group".into(),
            "inference.networking.k8s.io".into(),
            "--zap-encoder".into(),
            "json".into(),
            "--config-file".into(),
            config_file,
            "--v".into(),
            "6".into(),
            "--model-server-metrics-path".into(),
            "/v1/metrics".into(),
        ]
    };
    let volume_source = if epp.config.is_some() {
        config_map.to_string()
    } else {
        epp.config_map_ref
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default()
    };
    let container = Container {
        name: "epp".into(),
        image: Some(image),
        image_pull_policy: s.spec.image.pull_policy.clone().filter(|p| !p.is_empty()),
        command: some_vec(&c.command),
        args: some_vec(&args),
        env: env_list(&c.env),
        ports: some_vec(&ports),
        liveness_probe: Some(epp.liveness_probe.clone().unwrap_or_else(default_probe)),
        readiness_probe: Some(epp.readiness_probe.clone().unwrap_or_else(default_probe)),
        startup_probe: epp.startup_probe.clone(),
        volume_mounts: Some(vec![VolumeMount {
            name: "epp-config".into(),
            mount_path: "/config".into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let pod = PodSpec {
        service_account_name: Some(name.to_string()),
        containers: vec![container],
        volumes: Some(vec![Volume {
            name: "epp-config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: volume_source,
                ..Default::default()
            }),
            ..Default::default()
        }]),
        image_pull_secrets: some_vec(
            &s.spec
                .image
                .pull_secrets
                .iter()
                .map(|n| LocalObjectReference { name: n.clone() })
                .collect::<Vec<_>>(),
        ),
        ..Default::default()
    };
    let pod_metadata = ObjectMeta {
        labels: Some(pod_labels(name, labels)),
        ..Default::default()
    };
    Deployment {
        metadata,
        spec: Some(deployment_spec(name, None, pod_metadata, pod)),
        status: None,
    }
}

/// The inline config as the operator writes it into `default-plugins.yaml`.
pub fn config_yaml(cfg: &Value) -> String {
    let mut top = serde_json::Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = cfg
            .get(k)
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        {
            top.insert(k.into(), v.clone());
        }
    }
    if let Some(fg) = cfg
        .get("featureGates")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    {
        top.insert("featureGates".into(), fg.clone());
    }
    let plugin = |p: &Value| {
        object([
            ("name", text(p, "name")),
            ("type", text(p, "type")),
            ("parameters", parameters(p.get("parameters"))),
        ])
    };
    top.insert("plugins".into(), list(cfg, "plugins", plugin));
    let scheduling_plugin = |p: &Value| {
        object([
            ("pluginRef", text(p, "pluginRef")),
            ("weight", p.get("weight").cloned().unwrap_or(Value::Null)),
        ])
    };
    let profile = |p: &Value| {
        object([
            ("name", text(p, "name")),
            ("plugins", list(p, "plugins", scheduling_plugin)),
        ])
    };
    top.insert(
        "schedulingProfiles".into(),
        list(cfg, "schedulingProfiles", profile),
    );
    if let Some(Value::Object(sd)) = cfg.get("saturationDetector") {
        let mut m = serde_json::Map::new();
        for k in ["queueDepthThreshold", "kvCacheUtilThreshold"] {
            if let Some(v) = sd.get(k).filter(|v| v.as_f64().is_some_and(|f| f != 0.0)) {
                m.insert(k.into(), v.clone());
            }
        }
        let staleness = sd
            .get("metricsStalenessThreshold")
            .and_then(Value::as_str)
            .and_then(go_duration)
            .unwrap_or_else(|| "0s".into());
        m.insert("metricsStalenessThreshold".into(), Value::String(staleness));
        top.insert("saturationDetector".into(), Value::Object(m));
    }
    let extractor = |e: &Value| object([("pluginRef", text(e, "pluginRef"))]);
    let source = |s: &Value| {
        object([
            ("pluginRef", text(s, "pluginRef")),
            ("extractors", list(s, "extractors", extractor)),
        ])
    };
    let data = match cfg.get("data") {
        Some(d @ Value::Object(_)) => object([("sources", list(d, "sources", source))]),
        _ => Value::Null,
    };
    top.insert("data".into(), data);
    let mut out = String::new();
    emit_map(&top, 0, &mut out);
    out
}

/// A Go `string` field without `omitempty`: "" when absent.
fn text(v: &Value, key: &str) -> Value {
    v.get(key)
        .cloned()
        .unwrap_or_else(|| Value::String(String::new()))
}

/// A Go slice field without `omitempty`: each item re-typed, or null when absent.
fn list(v: &Value, key: &str, item: impl Fn(&Value) -> Value) -> Value {
    match v.get(key) {
        Some(Value::Array(a)) => Value::Array(a.iter().map(item).collect()),
        _ => Value::Null,
    }
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// `parameters` is a base64 string in the CRD. The upstream type holds it as raw JSON, so the
/// quoted string itself (not its decoded content) is written back.
fn parameters(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// Parse a Go duration (`1m30s`, `200ms`) and print it as Go's `Duration.String` does.
pub fn go_duration(s: &str) -> Option<String> {
    let mut total: f64 = 0.0;
    let mut rest = s.trim();
    let neg = rest.starts_with('-');
    rest = rest.trim_start_matches(['-', '+']);
    if rest == "0" {
        return Some("0s".into());
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * unit;
        rest = &rest[u..];
    }
    let mut ns = total.round() as i128;
    if ns == 0 {
        return Some("0s".into());
    }
    let sign = if neg { "-" } else { "" };
    if ns < 1_000_000_000 {
        let (div, unit) = if ns < 1_000 {
            (1, "ns")
        } else if ns < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return Some(format!("{sign}{}{unit}", frac(ns, div)));
    }
    let h = ns / 3_600_000_000_000;
    ns %= 3_600_000_000_000;
    let m = ns / 60_000_000_000;
    ns %= 60_000_000_000;
    let secs = frac(ns, 1_000_000_000);
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{secs}s"));
    Some(out)
}

fn frac(v: i128, div: i128) -> String {
    let whole = v / div;
    let mut rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let mut digits = String::new();
    let mut d = div;
    while rem > 0 && d > 1 {
        d /= 10;
        digits.push(char::from(b'0' + (rem / d) as u8));
        rem %= d;
    }
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn emit_map(m: &serde_json::Map<String, Value>, indent: usize, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for k in keys {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar_text(&Value::String(k.clone())));
        out.push(':');
        emit_value(&m[k], indent, out);
    }
}

fn emit_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Object(m) => {
            out.push('\n');
            emit_map(m, indent + 2, out);
        }
        Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
        Value::Array(a) => {
            out.push('\n');
            emit_seq(a, indent, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar_text(v));
            out.push('\n');
        }
    }
}

fn emit_seq(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut inner = String::new();
                emit_map(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            Value::Array(inner) if !inner.is_empty() => {
                let mut s = String::new();
                emit_seq(inner, indent + 2, &mut s);
                out.push(' ');
                out.push_str(&s[indent + 2..]);
            }
            other => emit_value(other, indent, out),
        }
    }
}

/// A scalar as go-yaml (v2) prints it after a JSON round trip: integral numbers as integers,
/// other floats in Go's shortest `%g` form, strings plain when unambiguous, double-quoted when a
/// plain scalar would read as another type, single-quoted when it would not parse.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => go_string(s),
        _ => String::new(),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for values the JSON encoder wrote with a
/// fraction; integral values below 1e21 come back from JSON as integers.
fn go_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{}", f as i128);
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

fn go_string(s: &str) -> String {
    if s.contains('\n') {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if resolves_to_non_string(s) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    if crate::yaml::emit::is_plain_safe(s) {
        return s.to_string();
    }
    if s.chars().any(|c| c.is_control()) {
        return serde_json::to_string(s).unwrap_or_default();
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// What go-yaml v2 would read a plain scalar as, other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let plain = s.replace('_', "");
    let t = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let int = !t.is_empty()
        && (t.bytes().all(|c| c.is_ascii_digit())
            || t.strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()))
            || t.strip_prefix("0b")
                .is_some_and(|b| !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1')));
    let float = !t.is_empty()
        && t.bytes().any(|c| c.is_ascii_digit())
        && t.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && t.parse::<f64>().is_ok();
    let b = s.as_bytes();
    let date = b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    int || float || date
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_config_matches_the_operator() {
        let cfg: Value = serde_json::json!({
            "plugins": [{"type": "queue-scorer"}],
            "schedulingProfiles": [{"name": "default", "plugins": [{"pluginRef": "queue-scorer"}]}]
        });
        assert_eq!(
            config_yaml(&cfg),
            "data: null\nplugins:\n- name: \"\"\n  parameters: null\n  type: queue-scorer\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: queue-scorer\n    weight: null\n"
        );
    }

    #[test]
    fn go_scalars() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.8), "0.8");
        assert_eq!(go_float(1e-7), "1e-07");
        assert_eq!(go_string("yes"), "\"yes\"");
        assert_eq!(go_string("- x"), "'- x'");
        assert_eq!(go_string("queue-scorer"), "queue-scorer");
        assert_eq!(go_string("eyJhIjoxfQ=="), "eyJhIjoxfQ==");
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration("90s").as_deref(), Some("1m30s"));
        assert_eq!(go_duration("200ms").as_deref(), Some("200ms"));
        assert_eq!(go_duration("1h").as_deref(), Some("1h0m0s"));
        assert_eq!(go_duration("1.5s").as_deref(), Some("1.5s"));
    }
}
