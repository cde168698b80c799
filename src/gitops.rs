//! What the GitOps integrations need beyond compiling, as pure functions the CLI edge calls:
//! the Argo CD plugin's build environment turned into facts ([`ArgoEnv`]), the check that a
//! committed output directory is fresh ([`stale_files`]), and the object-level diff between two
//! revisions ([`diff`]). None of them renders anything itself; they all work on
//! [`crate::compile`]'s output, so the Argo CD plugin, the GitHub Action and pre-commit run
//! the same code.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::facts::Facts;
use crate::manifest;
use crate::render::Rendered;

/// The settings an Argo CD config management plugin receives (see `deploy/argocd/`):
/// the Application's destination namespace, the cluster's version and APIs, and the plugin
/// parameters (`ARGOCD_APP_PARAMETERS`) or plugin env (`ARGOCD_ENV_NIMC_*`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ArgoEnv {
    /// `ARGOCD_APP_NAMESPACE`: the namespace of resources that have none.
    pub namespace: Option<String>,
    /// `KUBE_VERSION` (e.g. `1.34.2`), as `v1.34.2`.
    pub kube_version: Option<String>,
    /// `KUBE_API_VERSIONS`, split at commas.
    pub api_versions: Option<Vec<String>>,
    /// Parameter `facts` or `ARGOCD_ENV_NIMC_FACTS`: a facts file, relative to the app.
    pub facts: Option<String>,
    /// Parameter `sync-waves` or `ARGOCD_ENV_NIMC_SYNC_WAVES`: `true` or `false`.
    pub sync_waves: Option<bool>,
    /// Parameter `allow-empty` or `ARGOCD_ENV_NIMC_ALLOW_EMPTY`.
    pub allow_empty: Option<bool>,
}

/// The parameters the plugin announces (`deploy/argocd/plugin.yaml`).
pub const ARGO_PARAMETERS: &[&str] = &["facts", "sync-waves", "allow-empty"];

impl ArgoEnv {
    /// Read the plugin environment from `vars` (the process environment at the edge).
    /// Parameters win over `ARGOCD_ENV_NIMC_*`; unknown parameters and values that are not
    /// `true`/`false` where one is expected are errors, so a typo fails the sync visibly.
    pub fn parse(vars: &BTreeMap<String, String>) -> Result<ArgoEnv, String> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut env = ArgoEnv {
            namespace: get("ARGOCD_APP_NAMESPACE").map(str::to_string),
            kube_version: get("KUBE_VERSION").map(|v| match v.starts_with('v') {
                true => v.to_string(),
                false => format!("v{v}"),
            }),
            api_versions: get("KUBE_API_VERSIONS").map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
            facts: get("ARGOCD_ENV_NIMC_FACTS").map(str::to_string),
            sync_waves: get("ARGOCD_ENV_NIMC_SYNC_WAVES")
                .map(|v| boolean("ARGOCD_ENV_NIMC_SYNC_WAVES", v))
                .transpose()?,
            allow_empty: get("ARGOCD_ENV_NIMC_ALLOW_EMPTY")
                .map(|v| boolean("ARGOCD_ENV_NIMC_ALLOW_EMPTY", v))
                .transpose()?,
        };
        let Some(params) = get("ARGOCD_APP_PARAMETERS") else {
            return Ok(env);
        };
        let params: Vec<serde_json::Value> = serde_json::from_str(params)
            .map_err(|e| format!("ARGOCD_APP_PARAMETERS is not a JSON list: {e}"))?;
        for p in params {
            let name = p["name"].as_str().unwrap_or_default();
            let value = p["string"].as_str();
            let need = || format!("plugin parameter `{name}` needs a string value");
            match name {
                "facts" => env.facts = Some(value.ok_or_else(need)?.to_string()),
                "sync-waves" => env.sync_waves = Some(boolean(name, value.ok_or_else(need)?)?),
                "allow-empty" => env.allow_empty = Some(boolean(name, value.ok_or_else(need)?)?),
                _ => {
                    return Err(format!(
                        "unknown plugin parameter `{name}`; nimc takes {}",
                        ARGO_PARAMETERS.join(", ")
                    ));
                }
            }
        }
        Ok(env)
    }

    /// Apply the cluster's facts on top of the facts file: what Argo CD reports about the
    /// destination cluster is more current than a file.
    pub fn apply(&self, facts: &mut Facts) {
        if let Some(ns) = &self.namespace {
            facts.default_namespace = ns.clone();
        }
        if let Some(v) = &self.kube_version {
            facts.kubernetes_version = v.clone();
        }
        if let Some(a) = &self.api_versions {
            facts.api_versions = Some(a.clone());
        }
        if let Some(w) = self.sync_waves {
            facts.sync_waves = w;
        }
    }
}

fn boolean(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{name}` must be true or false, not `{v}`")),
    }
}

/// How a committed output directory differs from what nimc renders now: one line per file
/// that is missing, changed or no longer rendered (`existing` maps paths relative to the
/// directory to contents).
pub fn stale_files(
    objects: &[Rendered],
    existing: &BTreeMap<String, String>,
    split_waves: bool,
) -> Vec<String> {
    let wanted: BTreeMap<String, &str> = objects
        .iter()
        .map(|r| (manifest::output_path(r, split_waves), r.yaml.as_str()))
        .collect();
    let mut out = Vec::new();
    for (name, yaml) in &wanted {
        match existing.get(name) {
            None => out.push(format!("missing: {name}")),
            Some(text) if text != yaml => out.push(format!("changed: {name}")),
            Some(_) => {}
        }
    }
    for name in existing.keys() {
        if !wanted.contains_key(name) {
            out.push(format!("no longer rendered: {name}"));
        }
    }
    out
}

/// What changed between the objects of two revisions.
#[derive(Debug, Default)]
pub struct Diff {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// A unified diff per added, removed or changed object, in install order.
    pub text: String,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added + self.removed + self.changed == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "{} added, {} removed, {} changed, {} unchanged",
            self.added, self.removed, self.changed, self.unchanged
        )
    }
}

/// Compare the objects rendered at the base revision with the current ones, object by object
/// (matched by API version, kind, namespace and name).
pub fn diff(base: &[Rendered], current: &[Rendered]) -> Diff {
    let key = |r: &Rendered| {
        (
            r.rank,
            r.namespace.clone(),
            r.name.clone(),
            r.api_version,
            r.kind,
        )
    };
    let old: BTreeMap<_, &str> = base.iter().map(|r| (key(r), r.yaml.as_str())).collect();
    let new: BTreeMap<_, &str> = current.iter().map(|r| (key(r), r.yaml.as_str())).collect();
    let mut keys: Vec<_> = old.keys().chain(new.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    let mut d = Diff::default();
    for k in keys {
        let (_, ns, name, _, kind) = &k;
        let label = format!("{kind}/{ns}/{name}");
        let (a, b) = (old.get(&k).copied(), new.get(&k).copied());
        match (a, b) {
            (Some(a), Some(b)) if a == b => {
                d.unchanged += 1;
                continue;
            }
            (Some(_), Some(_)) => d.changed += 1,
            (None, _) => d.added += 1,
            (_, None) => d.removed += 1,
        }
        let (from, to) = (
            a.map_or("/dev/null".to_string(), |_| format!("a/{label}")),
            b.map_or("/dev/null".to_string(), |_| format!("b/{label}")),
        );
        let text = similar::TextDiff::from_lines(a.unwrap_or(""), b.unwrap_or(""));
        let _ = write!(
            d.text,
            "{}",
            text.unified_diff().context_radius(3).header(&from, &to)
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn argo_environment_becomes_facts() {
        let env = ArgoEnv::parse(&vars(&[
            ("ARGOCD_APP_NAMESPACE", "nim"),
            ("KUBE_VERSION", "1.33.1"),
            ("KUBE_API_VERSIONS", "v1,apps/v1,apps/v1/Deployment"),
            ("ARGOCD_ENV_NIMC_SYNC_WAVES", "false"),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"sync-waves","string":"true"},{"name":"facts","string":"env/prod.yaml"}]"#,
            ),
        ]))
        .unwrap();
        assert_eq!(env.sync_waves, Some(true), "parameters win over plugin env");
        assert_eq!(env.facts.as_deref(), Some("env/prod.yaml"));
        let mut facts = Facts::default();
        env.apply(&mut facts);
        assert_eq!(facts.default_namespace, "nim");
        assert_eq!(facts.kubernetes_version, "v1.33.1");
        assert!(facts.serves("apps/v1", "Deployment"));
        assert!(!facts.serves("apps/v1", "StatefulSet"));
        assert!(facts.serves("v1", "Service"));
        assert!(!facts.serves("monitoring.coreos.com/v1", "ServiceMonitor"));
        for bad in [
            r#"[{"name":"sync-wave","string":"true"}]"#,
            r#"[{"name":"sync-waves","string":"yes"}]"#,
            "not json",
        ] {
            assert!(ArgoEnv::parse(&vars(&[("ARGOCD_APP_PARAMETERS", bad)])).is_err());
        }
    }
}
