//! Diagnostics as data: a stable code, a severity, a message, the file and span it points at, and
//! a help line. [`CODES`] is the one table of codes (used by `nimc explain` and the docs);
//! [`print_human`] and [`print_github`] render diagnostics for people and for GitHub Actions.

use std::fmt::Write as _;

use crate::source::Sources;
use crate::yaml::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A problem found in the input, or a note about what nimc did.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// Index into [`Sources::files`]; `None` for problems that belong to no file.
    pub file: Option<usize>,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with the default severity of its code.
    pub fn new(code: &'static str, message: impl Into<String>) -> Diagnostic {
        let severity = lookup(code).map_or(Severity::Error, |c| c.severity);
        Diagnostic {
            code,
            severity,
            message: message.into(),
            file: None,
            span: None,
            help: None,
        }
    }

    pub fn at(mut self, file: usize, span: Span) -> Diagnostic {
        self.file = Some(file);
        self.span = Some(span);
        self
    }

    pub fn at_file(mut self, file: usize) -> Diagnostic {
        self.file = Some(file);
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Diagnostic {
        self.severity = severity;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One entry of the code table.
pub struct Code {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub explanation: &'static str,
}

/// Every diagnostic code nimc emits.
pub const CODES: &[Code] = &[
    Code {
        code: "NIMC001",
        name: "yaml-syntax",
        severity: Severity::Error,
        explanation: "The file is not valid YAML (syntax error, tab indentation, duplicate key, \
                      non-scalar mapping key). Nothing is rendered until it parses.",
    },
    Code {
        code: "NIMC002",
        name: "input-limit",
        severity: Severity::Error,
        explanation: "The input exceeds a safety limit: nesting deeper than 128 levels, more than \
                      2,000,000 nodes after alias expansion, a file over 16 MiB, a file that is \
                      not UTF-8, or a symbolic link that loops, dangles or leaves the directory \
                      read. The limits keep an Argo CD plugin safe from hostile repositories.",
    },
    Code {
        code: "NIMC003",
        name: "invalid-field",
        severity: Severity::Error,
        explanation: "A field of a NIM custom resource has the wrong type, is missing, or is not a \
                      field of the resource at all (an unknown field is usually a typo or a block \
                      at the wrong level). The API server would reject or silently drop it.",
    },
    Code {
        code: "NIMC004",
        name: "missing-name",
        severity: Severity::Error,
        explanation: "A NIM custom resource has no metadata.name. Every object nimc renders is \
                      named after its custom resource.",
    },
    Code {
        code: "NIMC005",
        name: "duplicate-resource",
        severity: Severity::Error,
        explanation: "Two documents define the same custom resource (kind, namespace and name), \
                      or two resources would render the same Kubernetes object. The API server \
                      keeps only one of them; nimc refuses to guess which.",
    },
    Code {
        code: "NIMC006",
        name: "image-required",
        severity: Severity::Error,
        explanation: "spec.image.repository and spec.image.tag are required (the operator's \
                      admission webhook rejects a NIMService without them).",
    },
    Code {
        code: "NIMC007",
        name: "storage-source",
        severity: Severity::Error,
        explanation: "A NIMService needs exactly one model store: storage.nimCache (with a name), \
                      storage.pvc, storage.emptyDir or storage.hostPath. A PVC that is not created \
                      needs a name; one that is created needs a size and an access mode.",
    },
    Code {
        code: "NIMC008",
        name: "reserved-label",
        severity: Severity::Error,
        explanation: "spec.labels.app would replace the pod label `app` that the Deployment \
                      selector and the Service select on; the operator renders a Deployment the \
                      API server rejects. Use another label key.",
    },
    Code {
        code: "NIMC009",
        name: "nimcache-not-found",
        severity: Severity::Error,
        explanation: "spec.storage.nimCache.name names a NIMCache that is not in the input, in the \
                      NIMService's namespace. The operator would mark the NIMService Failed \
                      (NIMCacheNotFound) and render no Deployment. Add the NIMCache to the paths \
                      you render.",
    },
    Code {
        code: "NIMC010",
        name: "cache-profiles-unknown",
        severity: Severity::Error,
        explanation: "An NGC NIMCache without explicit profiles has its profiles chosen by the \
                      operator in the cluster, from the model manifest inside the image and the \
                      GPUs of the nodes. nimc makes the same selection offline when the facts \
                      file gives the manifest and the GPUs: \
                      `modelManifests: {IMAGE: FILE}` (the model puller image as written in the \
                      NIMCache; the path relative to the facts file) and \
                      `gpuProducts: [NVIDIA-H100-80GB-HBM3, ...]` (the nodes' \
                      nvidia.com/gpu.product label values, used when model.gpus is empty). Get \
                      the manifest with: docker run --rm --entrypoint cat IMAGE \
                      /etc/nim/config/model_manifest.yaml > FILE (or podman; or crane export). \
                      Without it nimc never guesses a profile: list them in \
                      spec.source.ngc.model.profiles (or [all]), pin them with the \
                      nvidia.com/selected-profiles annotation, or keep the status the operator \
                      wrote (status.profiles) in the file. `nimc status` and the agent do not \
                      need the profiles: a status depends only on the live objects.",
    },
    Code {
        code: "NIMC011",
        name: "invalid-quantity",
        severity: Severity::Error,
        explanation: "A value that must be a Kubernetes quantity (such as 10Gi, 500m or 2) does \
                      not parse as one.",
    },
    Code {
        code: "NIMC012",
        name: "dra-unsupported",
        severity: Severity::Error,
        explanation: "spec.draResources needs Kubernetes v1.34.0 or newer (resource.k8s.io/v1). \
                      Set kubernetesVersion in the facts file to the cluster's version.",
    },
    Code {
        code: "NIMC013",
        name: "deprecated-cert-config",
        severity: Severity::Error,
        explanation: "NIMCache spec.certConfig is deprecated and the operator refuses to build the \
                      caching Job when it is set. Use spec.proxy.certConfigMap instead.",
    },
    Code {
        code: "NIMC014",
        name: "invalid-facts",
        severity: Severity::Error,
        explanation: "The facts file (nimc.yaml or --facts) has an unknown field or a value of the \
                      wrong type. See the README for its fields.",
    },
    Code {
        code: "NIMC015",
        name: "cache-source",
        severity: Severity::Error,
        explanation: "A NIMCache needs exactly one source (ngc, hf or dataStore), a model puller \
                      image, and an HF or DataStore source needs exactly one of modelName and \
                      datasetName. Its storage needs a pvc.",
    },
    Code {
        code: "NIMC016",
        name: "dra-invalid",
        severity: Severity::Error,
        explanation: "A spec.draResources entry needs exactly one of resourceClaimName, \
                      resourceClaimTemplateName and claimCreationSpec; devices need a name; \
                      selectors need a valid operator and value, and cannot be mixed with \
                      celExpressions; versionValue must be semantic-version text. A selector key \
                      is `name` or `domain/name` with a C-identifier name (it becomes a CEL field \
                      selection the API server would otherwise fail to compile).",
    },
    Code {
        code: "NIMC017",
        name: "router-config",
        severity: Severity::Error,
        explanation: "The router settings are inconsistent: an Ingress and a Gateway together, the \
                      deprecated expose.ingress together with router.ingress, no hostDomainName \
                      for an Ingress or Gateway, gRPC routes without a grpcPort, or a Service \
                      backendRef without a port.",
    },
    Code {
        code: "NIMC018",
        name: "epp-config",
        severity: Severity::Error,
        explanation: "The endpoint picker (expose.router.eppConfig) needs exactly one of config and \
                      configMapRef, an image repository, plugin parameters as base64 strings and \
                      a valid metricsStalenessThreshold duration.",
    },
    Code {
        code: "NIMC019",
        name: "scale-metrics",
        severity: Severity::Error,
        explanation: "scale.enabled needs a scale.hpa, and metrics.enabled needs a \
                      metrics.serviceMonitor block (the operator's webhook rejects them otherwise).",
    },
    Code {
        code: "NIMC020",
        name: "pipeline-service",
        severity: Severity::Error,
        explanation: "Every service of a NIMPipeline needs a name, unique within the pipeline (and \
                      not shared with another NIMService of the namespace): its objects are named \
                      after it.",
    },
    Code {
        code: "NIMC021",
        name: "pipeline-dependency",
        severity: Severity::Warning,
        explanation: "A NIMPipeline service is not deployed because `enabled` is not set (only \
                      `enabled: true` deploys), depends on a service that is missing or disabled, \
                      sets only one of envName and envValue (the operator then injects nothing), or \
                      the dependencies form a cycle.",
    },
    Code {
        code: "NIMC022",
        name: "kserve-config",
        severity: Severity::Error,
        explanation: "On the KServe platform the deployment mode must be Standard, RawDeployment, \
                      Knative, Serverless or ModelMesh; multiNode is not supported; and in the \
                      Knative-style modes scale.enabled, expose.ingress, router.ingress, \
                      router.gateway and metrics.enabled are rejected by the operator's webhook.",
    },
    Code {
        code: "NIMC023",
        name: "multinode-config",
        severity: Severity::Error,
        explanation: "A multi-node NIMService needs spec.replicas, one of MPI or Ray, the lws \
                      backend, no autoscaling, and a computeDomain that is either created \
                      (create: true, no name) or names an existing ComputeDomain whose channel \
                      template is given in the facts (computeDomains). With MPI, the hostfiles \
                      of all groups must fit in one ConfigMap (1 MiB).",
    },
    Code {
        code: "NIMC024",
        name: "single-node-multinode",
        severity: Severity::Warning,
        explanation: "spec.multiNode with pipeline parallelism 1 (or unset) runs on one node. The \
                      operator then renders a Deployment whose Service selects the (absent) \
                      LeaderWorkerSet leader and never becomes Ready; nimc renders a working \
                      single-node Deployment and Service instead.",
    },
    Code {
        code: "NIMC025",
        name: "invalid-name",
        severity: Severity::Error,
        explanation: "A NIMService name must be a DNS-1035 label (it names a Service) and a \
                      NIMCache name a DNS-1123 label, each of at most 59 characters, so that the \
                      objects named after them (`<name>-ctr`, `<name>-epp`, `<name>-lws`, \
                      `<name>-job`) stay valid. The operator does not check this; the API server \
                      then rejects the derived objects.",
    },
    Code {
        code: "NIMC026",
        name: "crd-constraint",
        severity: Severity::Error,
        explanation: "The resource breaks a constraint its CRD declares beyond field types: a \
                      required field is missing, or a value is outside its enum, numeric bounds \
                      (ports 1-65535, replicas not negative, parallelism at least 1, ...), length \
                      limits or pattern. The API server refuses such a resource before the \
                      operator's webhook sees it, so nimc reports only these problems for it. \
                      The same constraints are in the published schemas/ and crds/.",
    },
    Code {
        code: "NIMC027",
        name: "webhook-warning",
        severity: Severity::Warning,
        explanation: "The operator's admission webhook accepts the resource with a warning: no \
                      authSecret (NGC_API_KEY is not injected; fine only for air-gapped caches; \
                      under operatorVersion 3.1.2 it is an error, NIMC026 or NIMC037), \
                      the deprecated expose.ingress (use expose.router), or a LoadBalancer Service \
                      next to a router Ingress or Gateway (two entry points).",
    },
    Code {
        code: "NIMC028",
        name: "immutable-field",
        severity: Severity::Error,
        explanation: "`nimc validate --base REV` found a change the cluster refuses on update: \
                      spec.draResources added, removed or changed (CEL), spec.multiNode changed, \
                      spec.storage.pvc changed after the operator created the PVC, a NIMCache's \
                      modelPuller (CEL) or any other part of a NIMCache's spec (webhook). Argo CD \
                      or Flux would fail to sync it; re-create the resource under a new name.",
    },
    Code {
        code: "NIMC029",
        name: "proxy-config",
        severity: Severity::Error,
        explanation: "A NIMCache's spec.proxy is invalid: httpProxy and httpsProxy must start with \
                      http:// or https://, and every comma-separated noProxy entry must be a host \
                      name (optionally with a leading dot), an IPv4 or bracketed IPv6 address \
                      (optionally with a port) or a CIDR range (the operator's webhook rules).",
    },
    Code {
        code: "NIMC030",
        name: "pvc-not-in-input",
        severity: Severity::Warning,
        explanation: "storage.pvc names an existing PersistentVolumeClaim (create is not true) \
                      that is neither in the input nor created by another resource of it. The \
                      operator would wait for it (NIMCache NotReady, NIMService pods Pending); \
                      make sure it exists in the cluster, or add it to the repository.",
    },
    Code {
        code: "NIMC031",
        name: "replicas-with-autoscaling",
        severity: Severity::Error,
        explanation: "spec.replicas is set together with scale.enabled: true. NVIDIA's CRDs \
                      refuse this (a CEL rule), and the webhook too, so the resource never \
                      reaches the operator; remove spec.replicas (with autoscaling the replica \
                      count is scale.hpa.minReplicas).",
    },
    Code {
        code: "NIMC032",
        name: "api-unavailable",
        severity: Severity::Error,
        explanation: "The cluster does not serve an API a rendered object needs (the apiVersions \
                      fact, filled from Argo CD's KUBE_API_VERSIONS in the plugin): Gateway API \
                      routes, the InferencePool, LeaderWorkerSet, ComputeDomain, KServe's \
                      InferenceService or resource.k8s.io/v1. Applying the objects would fail \
                      the sync; install the CRDs or change the resource.",
    },
    Code {
        code: "NIMC033",
        name: "monitoring-unavailable",
        severity: Severity::Warning,
        explanation: "metrics.enabled asks for a ServiceMonitor, but the cluster does not serve \
                      monitoring.coreos.com/v1 (apiVersions). nimc leaves the ServiceMonitor out \
                      rather than fail the whole sync; install the Prometheus operator to get it.",
    },
    Code {
        code: "NIMC034",
        name: "patch-failed",
        severity: Severity::Error,
        explanation: "A patch from the facts file (`patches:`) or a --patch file selects no \
                      rendered object, or its RFC 6902 operations do not apply to an object it \
                      selects (a path that does not exist, a failed `test`). Nothing is \
                      rendered; fix the patch's target or paths against `nimc render` output.",
    },
    Code {
        code: "NIMC035",
        name: "model-manifest",
        severity: Severity::Error,
        explanation: "A model manifest named in the facts (`modelManifests: {IMAGE: FILE}`, the \
                      path relative to the facts file) cannot be read, or is not a model \
                      manifest the operator's parser accepts: schema v1 (a map from profile id \
                      to model, release and tags) or v2 (any schema_version containing a 2, with \
                      a profiles list of id and tags); tag values must be scalars. Get the file \
                      from the image: docker run --rm --entrypoint cat IMAGE \
                      /etc/nim/config/model_manifest.yaml > FILE (or podman; or crane export).",
    },
    Code {
        code: "NIMC036",
        name: "no-profile-selected",
        severity: Severity::Error,
        explanation: "The NIMCache lists no profiles, so the operator selects them from the image's \
                      model manifest (modelManifests) and the GPUs of the nodes (gpuProducts, used \
                      when model.gpus is empty), and no profile passes the filters of \
                      spec.source.ngc.model. The operator then creates no Job and the NIMCache \
                      stays NotReady (no profiles are selected for caching). `nimc profiles \
                      --manifest FILE PATH` shows which filter dropped each profile.",
    },
    Code {
        code: "NIMC037",
        name: "auth-secret-required",
        severity: Severity::Error,
        explanation: "Under operatorVersion 3.1.2 a NIMService (and every NIMPipeline service) \
                      needs spec.authSecret: that release's CRD lists it as required, its \
                      webhook refuses an empty one, and without the webhook it renders an \
                      NGC_API_KEY reference to a Secret without a name, which the API server \
                      refuses. PR #910 (operatorVersion main-f63f74d7) made it optional for \
                      air-gapped caches; there an empty one is warning NIMC027.",
    },
    Code {
        code: "NIMC038",
        name: "template-value",
        severity: Severity::Error,
        explanation: "The operator pastes this NIMService value into its YAML templates unquoted \
                      (images, pull policy and secrets, node selectors, class names, init and \
                      sidecar container names and images, storage paths, the Service type, DRA \
                      CEL expressions) and reads the result back as YAML. A line break, a \
                      leading tab, a `: `, a trailing `:` or a leading quote or YAML indicator \
                      makes that fail (or changes the object), so the operator stops before \
                      creating the workload. Leading and trailing spaces and a ` #` comment are \
                      dropped the same way by nimc and the operator.",
    },
    Code {
        code: "NIMC039",
        name: "rejected-value",
        severity: Severity::Error,
        explanation: "The value reaches an object the API server refuses, or pods that can never \
                      start: whitespace in an image, a pull policy other than Always, \
                      IfNotPresent or Never, a container without a name or two containers of one \
                      pod with the same name, an env reference to a Secret or ConfigMap without a \
                      name or key, a claim name or subPath with surrounding whitespace, an empty \
                      host path or nodeSelector key; and everything Kubernetes checks in the \
                      rendered objects (label and annotation syntax, node selectors, tolerations, \
                      affinity, IDs, class names, env names and sources, resources and extended \
                      resources, probes, volume mounts, Service types and ports, PVC storage \
                      classes, HPA bounds, Ingress classes). The message names the object and its \
                      field path; the location is the resource field the value came from. The \
                      operator writes such objects and the apply fails in the cluster; nimc \
                      reports the field instead.",
    },
    Code {
        code: "NIMC091",
        name: "render-note",
        severity: Severity::Note,
        explanation: "Something nimc did that the operator would have decided from cluster state, \
                      for example rendering a NIMService without the GPU count that a NIMCache \
                      status would have supplied. Shown with --verbose.",
    },
    Code {
        code: "NIMC092",
        name: "ignored-field",
        severity: Severity::Warning,
        explanation: "The field is accepted by the CRD but the operator never uses it (for example \
                      expose.service.name, or the deprecated spec.podAffinity). nimc renders what \
                      the operator renders, so the field has no effect.",
    },
];

/// The table entry of a code.
pub fn lookup(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// Sort diagnostics by file, position, then code, so output is stable.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.file, a.span.map(|s| s.start.offset), a.code, &a.message).cmp(&(
            b.file,
            b.span.map(|s| s.start.offset),
            b.code,
            &b.message,
        ))
    });
}

/// The rustc-like rendering: header, location, source line with a caret, help.
pub fn print_human(d: &Diagnostic, sources: &Sources) -> String {
    let mut out = format!("{}[{}]: {}\n", d.severity.as_str(), d.code, d.message);
    if let (Some(file), Some(span)) = (d.file, d.span) {
        let f = &sources.files[file];
        let _ = writeln!(
            out,
            "  --> {}:{}:{}",
            f.path, span.start.line, span.start.col
        );
        if let Some(line) = f
            .text
            .lines()
            .nth(span.start.line.saturating_sub(1) as usize)
        {
            let num = span.start.line.to_string();
            let pad = " ".repeat(num.len());
            let col = span.start.col.saturating_sub(1) as usize;
            let width = if span.end.line == span.start.line {
                (span.end.col.saturating_sub(span.start.col) as usize).max(1)
            } else {
                line.chars().count().saturating_sub(col).max(1)
            };
            let prefix: String = line
                .chars()
                .take(col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(
                out,
                "{pad} |\n{num} | {line}\n{pad} | {prefix}{}",
                "^".repeat(width)
            );
        }
    } else if let Some(file) = d.file {
        let _ = writeln!(out, "  --> {}", sources.files[file].path);
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "  = help: {help}");
    }
    out
}

/// A GitHub Actions workflow command (`::error file=…,line=…,col=…::message`).
pub fn print_github(d: &Diagnostic, sources: &Sources) -> String {
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    };
    let mut props = Vec::new();
    if let Some(file) = d.file {
        props.push(format!(
            "file={}",
            escape_property(&sources.files[file].path)
        ));
    }
    if let Some(span) = d.span {
        props.push(format!("line={}", span.start.line));
        props.push(format!("col={}", span.start.col));
    }
    props.push(format!("title={}", d.code));
    let mut msg = d.message.clone();
    if let Some(help) = &d.help {
        msg.push_str("\nhelp: ");
        msg.push_str(help);
    }
    format!("::{level} {}::{}\n", props.join(","), escape_data(&msg))
}

/// A Markdown report of every diagnostic (for a GitHub job summary, which has room for the
/// full list where annotations stop at ten per step).
pub fn markdown_summary(diags: &[Diagnostic], sources: &Sources) -> String {
    let shown: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.severity != Severity::Note)
        .collect();
    let errors = shown.iter().filter(|d| d.is_error()).count();
    let warnings = shown.len() - errors;
    let mut out = format!(
        "### nimc validate\n\n{errors} error(s), {warnings} warning(s) in {} file(s).\n",
        sources.files.len()
    );
    if shown.is_empty() {
        return out;
    }
    out.push_str("\n| | code | where | message |\n|---|---|---|---|\n");
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    for d in shown {
        let place = match (d.file, d.span) {
            (Some(f), Some(span)) => format!("{}:{}", sources.files[f].path, span.start.line),
            (Some(f), None) => sources.files[f].path.clone(),
            _ => String::new(),
        };
        let mut msg = d.message.clone();
        if let Some(help) = &d.help {
            msg.push_str(" (help: ");
            msg.push_str(help);
            msg.push(')');
        }
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} |",
            d.severity.as_str(),
            d.code,
            cell(&place),
            cell(&msg)
        );
    }
    out
}

/// One JSON object per diagnostic (a line of JSON Lines).
pub fn print_json(d: &Diagnostic, sources: &Sources) -> String {
    let v = serde_json::json!({
        "code": d.code,
        "severity": d.severity.as_str(),
        "message": d.message,
        "file": d.file.map(|f| sources.files[f].path.clone()),
        "line": d.span.map(|s| s.start.line),
        "column": d.span.map(|s| s.start.col),
        "help": d.help,
    });
    format!("{v}\n")
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
