//! NIMCache rules: one source with a model puller, a PVC, no deprecated certConfig, valid
//! quantities.

use super::valid_access_mode;
use crate::api::NimCache;
use crate::diagnostic::Diagnostic;
use crate::load::{Cr, Input};
use crate::quantity;

pub(super) fn check(input: &Input, cr: &Cr<NimCache>, diags: &mut Vec<Diagnostic>) {
    let o = cr.origin;
    let spec = &cr.object.spec;
    let name = cr.object.name();
    let src = &spec.source;
    let n = [
        src.ngc.is_some(),
        src.hf.is_some(),
        src.data_store.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    let mut d = |ptr: &str, code: &'static str, msg: String, help: &str| {
        diags.push(input.diag(code, o, ptr, msg).help(help));
    };
    if n != 1 {
        d(
            "/spec/source",
            "NIMC015",
            format!("NIMCache {name}: exactly one of ngc, dataStore or hf must be defined"),
            "pick one model source",
        );
    }
    let which = if src.ngc.is_some() {
        "ngc"
    } else if src.hf.is_some() {
        "hf"
    } else {
        "dataStore"
    };
    if src.model_puller().is_empty() && n == 1 {
        d(
            &format!("/spec/source/{which}/modelPuller"),
            "NIMC015",
            format!("NIMCache {name}: the source needs a modelPuller image"),
            "set modelPuller to the image that downloads the model",
        );
    }
    if let Some(h) = src.hf_like() {
        let which = if src.hf.is_some() { "hf" } else { "dataStore" };
        if h.model_name.is_some() == h.dataset_name.is_some() {
            d(
                &format!("/spec/source/{which}"),
                "NIMC015",
                format!("NIMCache {name}: exactly one of modelName or datasetName must be defined"),
                "set modelName for a model or datasetName for a dataset",
            );
        }
    }
    if let Some(ngc) = &src.ngc {
        ngc_rules(ngc, &mut d, name);
    }
    if let Some(ngc) = &src.ngc
        && ngc.model.is_some()
        && ngc.model_endpoint.is_some()
    {
        d(
            "/spec/source/ngc",
            "NIMC015",
            format!("NIMCache {name}: only one of model or modelEndpoint can be specified"),
            "remove one of them",
        );
    }
    if let Some(mode) = spec
        .storage
        .pvc
        .as_ref()
        .and_then(|p| p.volume_access_mode.as_deref())
        && !valid_access_mode(Some(mode))
    {
        d(
            "/spec/storage/pvc/volumeAccessMode",
            "NIMC015",
            format!("NIMCache {name}: unrecognized volumeAccessMode `{mode}`"),
            "one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod",
        );
    }
    if let Some(proxy) = &spec.proxy {
        proxy_rules(proxy, &mut d, name);
    }
    match spec.storage.pvc.as_ref().filter(|p| p.is_set()) {
        None => d(
            "/spec/storage",
            "NIMC015",
            format!("NIMCache {name}: storage.pvc is required"),
            "the model is cached in a PVC",
        ),
        Some(p) if p.creates() => {
            if p.size.as_deref().is_none_or(|s| !quantity::parse_ok(s)) {
                d(
                    "/spec/storage/pvc/size",
                    "NIMC015",
                    format!("NIMCache {name}: a PVC to create needs a valid size"),
                    "set storage.pvc.size, e.g. 50Gi",
                );
            }
            if p.volume_access_mode.is_none() {
                d(
                    "/spec/storage/pvc",
                    "NIMC015",
                    format!("NIMCache {name}: a PVC to create needs a volumeAccessMode"),
                    "one of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod",
                );
            }
        }
        Some(p) if p.name.as_deref().unwrap_or_default().is_empty() => {
            d(
                "/spec/storage/pvc",
                "NIMC015",
                format!("NIMCache {name}: storage.pvc needs a name unless create is true"),
                "name an existing PVC, or set create: true",
            );
        }
        Some(_) => {}
    }
    if spec.cert_config.is_some() {
        d(
            "/spec/certConfig",
            "NIMC013",
            format!("NIMCache {name}: spec.certConfig is deprecated and blocks the caching Job"),
            "move the CA ConfigMap to spec.proxy.certConfigMap",
        );
    }
    for (field, v) in [
        ("cpu", &spec.resources.cpu),
        ("memory", &spec.resources.memory),
    ] {
        if let Some(v) = v
            && !quantity::parse_ok(&v.0)
        {
            diags.push(
                input
                    .diag(
                        "NIMC011",
                        o,
                        &format!("/spec/resources/{field}"),
                        format!("`{}` is not a valid quantity", v.0),
                    )
                    .help("use a Kubernetes quantity such as 500m, 2, 16Gi"),
            );
        }
    }
}

type Report<'a> = dyn FnMut(&str, &'static str, String, &str) + 'a;

/// The webhook's rules on an NGC source: explicit profiles exclude the profile filters, `all`
/// stands alone, the QoS profile is latency or throughput, and the secrets are non-empty.
fn ngc_rules(ngc: &crate::api::NgcSource, d: &mut Report, name: &str) {
    if ngc.auth_secret.is_empty() {
        d(
            "/spec/source/ngc/authSecret",
            "NIMC015",
            format!("NIMCache {name}: source.ngc.authSecret must be non-empty"),
            "name the Secret that holds NGC_API_KEY",
        );
    }
    let Some(m) = &ngc.model else { return };
    let at = |f: &str| format!("/spec/source/ngc/model/{f}");
    if m.profiles.len() > 1 && m.profiles.iter().any(|p| p == "all") {
        d(
            &at("profiles"),
            "NIMC015",
            format!(
                "NIMCache {name}: model.profiles must only have a single entry when it contains 'all'"
            ),
            "list `all` alone, or list the profiles you want",
        );
    }
    if let Some(q) = m.qos_profile.as_deref().filter(|q| !q.is_empty())
        && !matches!(q, "latency" | "throughput")
    {
        d(
            &at("qosProfile"),
            "NIMC015",
            format!("NIMCache {name}: unsupported qosProfile `{q}`"),
            "use latency or throughput",
        );
    }
    if m.profiles.is_empty() {
        return;
    }
    let text = |v: &Option<String>| v.as_deref().is_some_and(|t| !t.is_empty());
    let filters = [
        ("precision", text(&m.precision)),
        ("engine", text(&m.engine)),
        ("tensorParallelism", text(&m.tensor_parallelism)),
        ("qosProfile", text(&m.qos_profile)),
        ("gpus", !m.gpus.is_empty()),
        ("lora", m.lora.is_some()),
        ("buildable", m.buildable.is_some()),
    ];
    for (field, set) in filters {
        if set {
            d(
                &at(field),
                "NIMC015",
                format!(
                    "NIMCache {name}: model.{field} must be empty when model.profiles is given"
                ),
                "explicit profiles already pick what is cached; drop the filter or the profiles",
            );
        }
    }
}

/// The webhook's proxy rules: proxy URLs are http(s), and every noProxy token is a host name,
/// an IP address (v4, or bracketed v6, optionally with a port) or a CIDR range.
fn proxy_rules(proxy: &crate::api::ProxySpec, d: &mut Report, name: &str) {
    for (field, v) in [
        ("httpsProxy", &proxy.https_proxy),
        ("httpProxy", &proxy.http_proxy),
    ] {
        if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
            d(
                &format!("/spec/proxy/{field}"),
                "NIMC029",
                format!("NIMCache {name}: proxy.{field} `{v}` must start with http:// or https://"),
                "write the proxy as a URL, e.g. http://proxy.example.com:3128",
            );
        }
    }
    for token in proxy.no_proxy.split(',').map(str::trim) {
        if !token.is_empty() && !no_proxy_token_ok(token) {
            d(
                "/spec/proxy/noProxy",
                "NIMC029",
                format!(
                    "NIMCache {name}: proxy.noProxy entry `{token}` is not a host, IP address or CIDR"
                ),
                "separate entries with commas: host names (.example.com), IPs (10.0.0.1) or CIDRs (10.0.0.0/8)",
            );
        }
    }
}

fn no_proxy_token_ok(t: &str) -> bool {
    static PATTERNS: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        [
            r"^\.?[a-zA-Z0-9.-]+$",
            r"^(\d{1,3}\.){3}\d{1,3}(:\d+)?$",
            r"^\[[0-9a-fA-F:]+\](?::\d+)?$",
            r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$",
            r"^\[[0-9a-fA-F:]+\]/\d{1,3}$",
        ]
        .iter()
        .map(|p| regex::Regex::new(p).expect("valid pattern"))
        .collect()
    });
    patterns.iter().any(|p| p.is_match(t))
}
