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
    if src.model_puller().is_empty() && n == 1 {
        d(
            "/spec/source",
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
    match &spec.storage.pvc {
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
            if !valid_access_mode(p.volume_access_mode.as_deref()) {
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
