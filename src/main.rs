//! The `nimc` command line: the I/O edge around [`nimc::compile`]. Reads files, the facts
//! file, git revisions (`--base`) and the Argo CD plugin environment (`--argocd`), prints
//! objects to stdout (or writes `--output-dir` atomically) and diagnostics to stderr. Exit
//! status: 0 rendered, 1 the input has errors (nothing written), 2 usage or I/O failure.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use nimc::diagnostic::{self, Severity};

/// Rendering allocates and frees many small objects on every core; mimalloc keeps that cheap
/// where glibc's allocator spends a quarter of the time consolidating and trimming its heap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use nimc::facts::{self, Facts};
use nimc::gitops::{self, ArgoEnv};
use nimc::source::{self, Sources};
use nimc::{Compilation, manifest};

/// `nimc --version`: the crate version, the operator behaviour it reproduces by default (and
/// the others it can), and the Kubernetes version of the default facts.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let defaults = Facts::default();
    let profiles: Vec<String> = nimc::operator::PROFILES
        .iter()
        .map(|b| format!("  {:<14} {}", b.name, b.reproduces))
        .collect();
    format!(
        "{}\noperator behaviour (operatorVersion, default {}):\n{}\nKubernetes version of the default facts: {}",
        env!("CARGO_PKG_VERSION"),
        defaults.operator_version,
        profiles.join("\n"),
        defaults.kubernetes_version,
    )
});

#[derive(Parser)]
#[command(
    name = "nimc",
    version = VERSION.as_str(),
    about = "Compile NVIDIA NIM Operator custom resources into the Kubernetes objects the operator would create, without a controller"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every command that reads resources takes.
#[derive(Args)]
struct InputArgs {
    /// Files or directories to read (directories recursively, honouring .gitignore).
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Cluster facts file; default: nimc.yaml in the first path's directory or the nearest
    /// ancestor up to the git repository root.
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    /// Diagnostic format on stderr (json: one object per line).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also print notes and a summary of what was read and ignored.
    #[arg(short, long)]
    verbose: bool,
    /// Annotate objects with Argo CD sync waves that follow NIMPipeline dependencies (a
    /// service one wave after its deepest dependency, its NIMCache the wave before it); a
    /// dependency cycle is then an error.
    #[arg(long)]
    sync_waves: bool,
    /// Apply the patches in FILE (a YAML list, like `patches:` in the facts file) to the
    /// rendered objects, after those of the facts file. Repeatable.
    #[arg(long = "patch", value_name = "FILE")]
    patches: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Render NIMService, NIMCache and NIMPipeline resources into Kubernetes objects.
    ///
    /// Objects go to stdout as multi-document YAML in install order (kind rank, namespace,
    /// name); diagnostics go to stderr. Exit status: 0 rendered, 1 input errors (nothing is
    /// written) or a stale --check directory, 2 usage or I/O failure.
    Render {
        #[command(flatten)]
        input: InputArgs,
        /// Write one file per object into DIR (replacing its YAML files) instead of stdout.
        /// All files appear, or none do.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// With --output-dir: write nothing; exit 1 and list the files when DIR is not what
        /// nimc renders now (for CI and pre-commit).
        #[arg(long, requires = "output_dir")]
        check: bool,
        /// With --output-dir: one folder per sync wave (`wave-<n>/`), for one Flux
        /// Kustomization per stage chained with dependsOn. Implies --sync-waves.
        #[arg(long, requires = "output_dir")]
        split_waves: bool,
        /// Run as an Argo CD config management plugin: read ARGOCD_APP_NAMESPACE, KUBE_VERSION,
        /// KUBE_API_VERSIONS, ARGOCD_APP_PARAMETERS and ARGOCD_ENV_NIMC_* into the facts, and
        /// refuse an empty render (with pruning it would delete the application).
        #[arg(long)]
        argocd: bool,
        /// With --argocd: accept a render with no objects.
        #[arg(long)]
        allow_empty: bool,
    },
    /// Check NIM resources without rendering: the same rules `render` applies.
    ///
    /// Exit status: 0 no errors (warnings are fine), 1 errors found, 2 usage or I/O failure.
    Validate {
        #[command(flatten)]
        input: InputArgs,
        /// Also apply the update-time rules: compare each resource with its version at this git
        /// revision (e.g. origin/main) and report changes the cluster refuses (NIMC028).
        #[arg(long, value_name = "GIT_REV")]
        base: Option<String>,
        /// Also append a Markdown table of every diagnostic to FILE (e.g. the GitHub job
        /// summary, $GITHUB_STEP_SUMMARY).
        #[arg(long, value_name = "FILE")]
        summary: Option<PathBuf>,
    },
    /// Show how the rendered objects change from a git revision to the working tree.
    ///
    /// Renders both (same facts), prints a unified diff per added, removed or changed object on
    /// stdout and a summary on stderr, and reports the changes the cluster refuses on update
    /// (NIMC028) as errors. Exit status: 0 (with --exit-code: 0 no change, 1 changes), 1 input
    /// errors, 2 usage or I/O failure.
    Diff {
        #[command(flatten)]
        input: InputArgs,
        /// The revision to compare with (e.g. origin/main).
        #[arg(long, value_name = "GIT_REV")]
        base: String,
        /// Exit 1 when any object changes (like `git diff --exit-code`).
        #[arg(long)]
        exit_code: bool,
    },
    /// Print the status the operator (or `nimc agent`) would write into each resource.
    ///
    /// Reads the resources (PATH, as for render) and the live objects (--observed: what
    /// `kubectl get -A -o yaml` prints for every kind nimc renders plus resourceclaims,
    /// computedomains and the NIM resources; see the README) and prints one YAML document per
    /// resource: apiVersion, kind, metadata (name, namespace) and status. Exit status: 0, 1
    /// input errors, 2 usage or I/O failure.
    Status {
        #[command(flatten)]
        input: InputArgs,
        /// Multi-document YAML (or `kind: List`) of the live objects, with their status.
        /// Repeatable.
        #[arg(long, value_name = "FILE", required = true)]
        observed: Vec<PathBuf>,
        /// The model a NIMService serves, as its /v1/models reports it. Repeatable. Without
        /// one, status.model.name is empty (and, unlike the operator, Ready is not held back).
        #[arg(long = "model", value_name = "NAMESPACE/NAME=MODEL_ID")]
        models: Vec<String>,
        /// The time written into conditions that change (RFC 3339). Default: now.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Run the in-cluster status agent (built with `--features agent`).
    ///
    /// Watches NIMService, NIMCache and NIMPipeline resources and the objects nimc rendered for
    /// them (by the app.kubernetes.io/managed-by label), and writes each resource's status
    /// through the status subresource as the operator would; it never writes a spec or a
    /// workload. Uses the in-cluster service account, or KUBECONFIG outside a cluster. Exits 0
    /// on SIGTERM or SIGINT (after releasing its lease), 1 when it cannot run (the NVIDIA
    /// operator manages the resources, missing permissions, ...), 2 on usage errors.
    Agent(AgentArgs),
    /// Show a model manifest's profiles and which of them each NIMCache's filters select.
    ///
    /// Prints the profiles of the manifest (id, model, engine, precision, tp, pp, gpu, lora,
    /// profile) and, for each NIMCache under PATH, the profiles its Job downloads as the
    /// operator selects them (spec.source.ngc.model filters; the nodes' GPUs from gpuProducts
    /// in the facts) and the first filter that dropped each other profile. Each NIMCache uses
    /// the manifest the facts give for its image (modelManifests), else --manifest. Exit
    /// status: 0, 1 input errors, 2 usage or I/O failure.
    Profiles {
        /// A model manifest (the image's /etc/nim/config/model_manifest.yaml).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Files or directories with NIMCaches to explain.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Cluster facts file (gpuProducts, modelManifests); default: nimc.yaml as for render.
        #[arg(long, value_name = "FILE")]
        facts: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Listing::Table)]
        format: Listing,
    },
    /// Print the documentation of a diagnostic code (e.g. NIMC007).
    Explain {
        /// The code, e.g. NIMC007.
        code: String,
    },
}

#[derive(Args)]
struct AgentArgs {
    /// Cluster facts file: the same one `nimc render` uses, so statuses and drift are judged
    /// against the objects it renders.
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    /// Watch only this namespace (repeatable). Default: all namespaces.
    #[arg(long = "namespace", value_name = "NAMESPACE")]
    namespaces: Vec<String>,
    /// Where /healthz and /readyz are served.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8081")]
    health_addr: std::net::SocketAddr,
    /// Where /metrics is served (may equal --health-addr).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Run without leader election (only safe with a single replica).
    #[arg(long)]
    no_leader_elect: bool,
    /// The Lease that elects the writing replica.
    #[arg(long, value_name = "NAME", default_value = "nimc-agent")]
    lease_name: String,
    /// The Lease's namespace. Default: $POD_NAMESPACE, else the service account's namespace.
    #[arg(long, value_name = "NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease. Default: $POD_NAME, else <host name>-<pid>.
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// How long a Lease holds without renewal (e.g. 15s).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration)]
    lease_duration: std::time::Duration,
    /// How often the leader renews and the others retry (e.g. 2s).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    lease_retry: std::time::Duration,
    /// How often every status is recomputed without an event (e.g. 60s).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    resync: std::time::Duration,
    /// Do not read model ids from the NIMs' /v1/models (status.model.name stays empty).
    #[arg(long)]
    no_model_probe: bool,
}

/// `15s`, `500ms`, `2m` or plain seconds.
fn duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{s}: expected a duration such as 15s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s}: the unit must be ms, s or m")),
    };
    if !(secs > 0.0 && secs < 86_400.0) {
        return Err(format!("{s}: must be more than zero and less than a day"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Github,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Render {
            mut input,
            output_dir,
            check,
            split_waves,
            argocd,
            allow_empty,
        } => {
            input.sync_waves |= split_waves;
            let argo = if argocd {
                let vars: BTreeMap<String, String> = std::env::vars().collect();
                match ArgoEnv::parse(&vars) {
                    Ok(env) => Some(env),
                    Err(e) => return fail(e),
                }
            } else {
                None
            };
            let out = output_dir.map(|dir| OutputDir {
                dir,
                check,
                split_waves,
            });
            render(&input, out.as_ref(), argo, allow_empty)
        }
        Command::Validate {
            input,
            base,
            summary,
        } => validate(&input, base.as_deref(), summary.as_deref()),
        Command::Diff {
            input,
            base,
            exit_code,
        } => diff(&input, &base, exit_code),
        Command::Status {
            input,
            observed,
            models,
            now,
        } => status(&input, &observed, &models, now),
        Command::Agent(args) => agent(args),
        Command::Profiles {
            manifest,
            paths,
            facts,
            format,
        } => profiles(manifest.as_deref(), &paths, facts, format),
        Command::Explain { code } => explain(&code),
    }
}

/// `nimc agent`: read the facts and the pod's identity (the edge), then run the agent.
#[cfg(feature = "agent")]
fn agent(args: AgentArgs) -> ExitCode {
    use nimc::agent::{self, lease::LeaseConfig, log};
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut facts = match &args.facts {
        None => Facts::default(),
        Some(p) => match read_facts(p, &mut Sources::default(), Format::Human, false) {
            Ok(f) => f,
            Err(code) => return code,
        },
    };
    // The agent compiles resources from the cluster, not from files: a patch's place in the
    // facts file means nothing to its diagnostics, which then concern every resource.
    facts.patches.iter_mut().for_each(|p| p.at = None);
    let lease = (!args.no_leader_elect).then(|| LeaseConfig {
        namespace: args
            .lease_namespace
            .clone()
            .or_else(|| env("POD_NAMESPACE"))
            .unwrap_or_else(|| {
                fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "default".into())
            }),
        name: args.lease_name.clone(),
        identity: args
            .identity
            .clone()
            .or_else(|| env("POD_NAME"))
            .unwrap_or_else(|| {
                let host = env("HOSTNAME").unwrap_or_else(|| {
                    fs::read_to_string("/etc/hostname")
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default()
                });
                format!("{host}-{}", std::process::id())
            }),
        duration: args.lease_duration,
        retry: args.lease_retry,
    });
    if let Some(Err(e)) = lease.as_ref().map(LeaseConfig::check) {
        return fail(e);
    }
    let config = agent::Config {
        facts,
        namespaces: args.namespaces,
        lease,
        health_addr: args.health_addr,
        metrics_addr: args.metrics_addr,
        resync: args.resync,
        probe_models: !args.no_model_probe,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match runtime.block_on(agent::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error(&message, serde_json::Value::Null);
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "agent"))]
fn agent(_: AgentArgs) -> ExitCode {
    fail(
        "this nimc was built without the status agent: build it with `cargo build --release --features agent`",
    )
}

fn status(
    input: &InputArgs,
    observed: &[PathBuf],
    models: &[String],
    now: Option<String>,
) -> ExitCode {
    let loaded = match load(input, None) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut live = Sources::default();
    for p in observed {
        match source::read_one(p) {
            Ok(f) => live.files.push(f),
            Err(e) => return fail(e),
        }
    }
    let observed = match nimc::status::Observed::parse(&live) {
        Ok(o) => o,
        Err(d) => {
            print_diagnostics(&[d], &live, input.format, input.verbose);
            return ExitCode::from(1);
        }
    };
    let mut ids = BTreeMap::new();
    for m in models {
        match m.split_once('=') {
            Some((k, v)) if k.contains('/') => {
                ids.insert(k.to_string(), v.to_string());
            }
            _ => {
                return fail(format_args!(
                    "--model {m}: expected NAMESPACE/NAME=MODEL_ID"
                ));
            }
        }
    }
    let now = now.unwrap_or_else(rfc3339_now);
    let (statuses, result) = nimc::status(&loaded.sources, &loaded.facts, &observed, &ids, &now);
    print_diagnostics(
        &result.diagnostics,
        &loaded.sources,
        input.format,
        input.verbose,
    );
    if result.has_errors() {
        return ExitCode::from(1);
    }
    let mut out = std::io::stdout().lock();
    for (i, s) in statuses.iter().enumerate() {
        let text = nimc::yaml::emit::to_string(&s.to_object());
        let sep = if i == 0 { "" } else { "---\n" };
        if let Err(e) = write!(out, "{sep}{text}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
            return fail(e);
        }
    }
    ExitCode::SUCCESS
}

/// How `nimc profiles` prints.
#[derive(Clone, Copy, ValueEnum)]
enum Listing {
    Table,
    Json,
}

/// `nimc profiles`: read the manifest, the facts and the NIMCaches, and explain the selection.
fn profiles(
    manifest: Option<&Path>,
    paths: &[PathBuf],
    facts_path: Option<PathBuf>,
    format: Listing,
) -> ExitCode {
    use nimc::profiles::{self as p, Manifest};
    let (mut sources, read_diags) = match paths.is_empty() {
        true => (Sources::default(), Vec::new()),
        false => match source::read(paths) {
            Ok(r) => r,
            Err(e) => return fail(e),
        },
    };
    sources.settings = Some(sources.files.len());
    let facts = match facts_path.or_else(|| paths.first().and_then(|p| source::find_facts(p))) {
        None => Facts::default(),
        Some(path) => match read_facts(&path, &mut sources, Format::Human, false) {
            Ok(f) => f,
            Err(code) => return code,
        },
    };
    let given: Option<Manifest> = match manifest {
        None => None,
        Some(path) => {
            let file = match source::read_one(path) {
                Ok(f) => f,
                Err(e) => return fail(e),
            };
            let i = sources.add_settings(file);
            match p::parse(&sources.files[i].text) {
                Ok(m) => Some(m),
                Err(e) => {
                    let span = nimc::yaml::Span {
                        start: e.pos,
                        end: e.pos,
                    };
                    let d = diagnostic::Diagnostic::new("NIMC035", e.message)
                        .at(i, span)
                        .help("see nimc explain NIMC035");
                    print_diagnostics(&[d], &sources, Format::Human, false);
                    return ExitCode::from(1);
                }
            }
        }
    };
    let (input, mut diags) = nimc::load::load(&sources);
    diags.extend(read_diags);
    diagnostic::sort(&mut diags);
    print_diagnostics(&diags, &sources, Format::Human, false);
    if diags.iter().any(diagnostic::Diagnostic::is_error) {
        return ExitCode::from(1);
    }
    let mut caches = Vec::new();
    for c in &input.caches {
        let spec = &c.object.spec.source;
        let image = spec.model_puller().to_string();
        let model = spec
            .ngc
            .as_ref()
            .and_then(|n| n.model.clone())
            .unwrap_or_default();
        let manifest = facts.manifests.get(&image).map(|m| &**m).or(given.as_ref());
        let ready = c.object.status.as_ref().is_some_and(|s| !s.creates_job());
        let pinned = c
            .object
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(nimc::resolve::SELECTED_PROFILES));
        let (note, selection) = if ready {
            (
                Some("its status is Ready: the operator creates no Job for it".to_string()),
                None,
            )
        } else if !spec.is_optimized() {
            (
                Some("not an NGC profile download: the Job names no profiles".to_string()),
                None,
            )
        } else if !model.profiles.is_empty() {
            (
                Some(format!("lists its profiles: {}", model.profiles.join(", "))),
                None,
            )
        } else if let Some(text) = pinned {
            (
                Some(format!(
                    "pinned by the {} annotation: {text}",
                    nimc::resolve::SELECTED_PROFILES
                )),
                None,
            )
        } else if let Some(m) = manifest {
            (None, Some(p::explain(m, &model, &facts.gpu_products)))
        } else {
            (
                Some(format!(
                    "no manifest for {image}: give --manifest, or modelManifests in the facts"
                )),
                None,
            )
        };
        let namespace = match c.object.namespace() {
            "" => facts.default_namespace.as_str(),
            ns => ns,
        };
        caches.push(serde_json::json!({
            "namespace": namespace,
            "name": c.object.name(),
            "image": image,
            "note": note,
            "selected": selection.as_ref().map(|s| &s.selected),
            "dropped": selection.as_ref().map(|s| &s.dropped),
        }));
    }
    let rows = given.as_ref().map(p::rows).unwrap_or_default();
    let text = match format {
        Listing::Json => {
            let mut caches = serde_json::Value::Array(caches);
            nimc::status::strip_nulls(&mut caches);
            format!(
                "{}\n",
                serde_json::json!({"profiles": rows, "caches": caches})
            )
        }
        Listing::Table => profile_table(&rows, &caches),
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => fail(e),
        _ => ExitCode::SUCCESS,
    }
}

/// The human form of `nimc profiles`: the manifest's profiles as a table, then each NIMCache.
fn profile_table(rows: &[nimc::profiles::Row], caches: &[serde_json::Value]) -> String {
    let mut out = String::new();
    if !rows.is_empty() {
        let header = [
            "ID",
            "MODEL",
            "ENGINE",
            "PRECISION",
            "TP",
            "PP",
            "GPU",
            "LORA",
            "PROFILE",
        ];
        let cells: Vec<[&str; 9]> = rows
            .iter()
            .map(|r| {
                [
                    r.id.as_str(),
                    &r.model,
                    &r.engine,
                    &r.precision,
                    &r.tp,
                    &r.pp,
                    &r.gpu,
                    &r.lora,
                    &r.profile,
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        for row in std::iter::once(&header).chain(&cells) {
            let line: Vec<String> = row
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
    }
    for c in caches {
        let name = format!(
            "{}/{}",
            c["namespace"].as_str().unwrap_or_default(),
            c["name"].as_str().unwrap_or_default()
        );
        out.push_str(&format!(
            "\nNIMCache {name} ({}):\n",
            c["image"].as_str().unwrap_or_default()
        ));
        if let Some(note) = c["note"].as_str() {
            out.push_str(&format!("  {note}\n"));
            continue;
        }
        let selected = c["selected"].as_array().cloned().unwrap_or_default();
        if selected.is_empty() {
            out.push_str("  selects nothing: the operator creates no Job (no profiles are selected for caching)\n");
        }
        for id in selected {
            out.push_str(&format!(
                "  selected  {}\n",
                id.as_str().unwrap_or_default()
            ));
        }
        for d in c["dropped"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  dropped   {}: {}\n",
                d["id"].as_str().unwrap_or_default(),
                d["reason"].as_str().unwrap_or_default()
            ));
        }
    }
    out
}

/// The current time as RFC 3339 UTC (the clock is read here, at the edge, only).
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    nimc::status::rfc3339(secs)
}

fn explain(code: &str) -> ExitCode {
    match diagnostic::lookup(code) {
        Some(c) => {
            println!(
                "{} ({}, {})\n\n{}",
                c.code,
                c.name,
                c.severity.as_str(),
                c.explanation
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("nimc: unknown diagnostic code {code}");
            ExitCode::from(2)
        }
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("nimc: {message}");
    ExitCode::from(2)
}

/// `--output-dir` and its options.
struct OutputDir {
    dir: PathBuf,
    check: bool,
    split_waves: bool,
}

fn render(
    input: &InputArgs,
    output: Option<&OutputDir>,
    argo: Option<ArgoEnv>,
    allow_empty: bool,
) -> ExitCode {
    let inputs = || {
        input
            .paths
            .iter()
            .map(PathBuf::as_path)
            .chain(input.facts.as_deref())
            .chain(input.patches.iter().map(PathBuf::as_path))
    };
    if let Some(out) = output.filter(|o| !o.check)
        && let Some(path) = input_inside(&out.dir, inputs())
    {
        let dir = &out.dir;
        return fail(format_args!(
            "refusing to replace {}: it holds the input {}; write the output somewhere else",
            dir.display(),
            path.display()
        ));
    }
    let allow_empty = allow_empty || argo.as_ref().and_then(|a| a.allow_empty) == Some(true);
    let loaded = match load(input, argo.as_ref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let result = compile(&loaded, None);
    print_diagnostics(
        &result.diagnostics,
        &loaded.sources,
        input.format,
        input.verbose,
    );
    if input.verbose {
        summary(&result);
        let operator = loaded.facts.operator_version.behaviour();
        eprintln!(
            "nimc: operator behaviour {} ({})",
            operator.name, operator.reproduces
        );
    }
    if result.has_errors() {
        return ExitCode::from(1);
    }
    if argo.is_some() && result.objects.is_empty() && !allow_empty {
        eprintln!(
            "nimc: rendered no objects; refusing, because an empty render with pruning deletes every resource of the application (set the plugin parameter allow-empty to true if that is intended)"
        );
        return ExitCode::from(1);
    }
    match output {
        Some(out) if out.check => match read_output_dir(&out.dir) {
            Ok(existing) => {
                let dir = out.dir.display();
                let stale = gitops::stale_files(&result.objects, &existing, out.split_waves);
                for line in &stale {
                    eprintln!("nimc: {dir}: {line}");
                }
                if stale.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "nimc: {dir} is not what nimc renders now; run nimc render --output-dir {dir}"
                    );
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(format_args!("{}: {e}", out.dir.display())),
        },
        Some(out) => match write_dir(out, &result) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format_args!("{}: {e}", out.dir.display())),
        },
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            match manifest::write_yaml(&result.objects, &mut out).and_then(|_| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // The reader went away (`nimc render | head`): not our failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

/// One run's inputs: the sources (resources, then the facts and patch files, so that
/// diagnostics can point into any of them) and the facts.
struct Loaded {
    sources: Sources,
    facts: Facts,
    read_diags: Vec<diagnostic::Diagnostic>,
}

/// Read the resources, the facts (`--facts`, the Argo CD `facts` parameter, or the discovered
/// `nimc.yaml`; then `--sync-waves` and what Argo CD reports about the cluster) and the
/// `--patch` files. On failure the exit code (the problem is already printed).
fn load(input: &InputArgs, argo: Option<&ArgoEnv>) -> Result<Loaded, ExitCode> {
    let (mut sources, read_diags) = source::read(&input.paths).map_err(fail)?;
    sources.settings = Some(sources.files.len());
    let facts_path = input
        .facts
        .clone()
        .or_else(|| argo.and_then(|a| a.facts.as_ref()).map(PathBuf::from))
        .or_else(|| input.paths.first().and_then(|p| source::find_facts(p)));
    let settings_error = |d: diagnostic::Diagnostic, sources: &Sources| {
        print_diagnostics(&[d], sources, input.format, input.verbose);
        ExitCode::from(1)
    };
    let mut facts = match facts_path {
        None => Facts::default(),
        Some(p) => read_facts(&p, &mut sources, input.format, input.verbose)?,
    };
    for p in &input.patches {
        let file = source::read_one(p).map_err(fail)?;
        let i = sources.add_settings(file);
        let patches =
            facts::parse_patches(&sources.files[i], i).map_err(|d| settings_error(d, &sources))?;
        facts.patches.extend(patches);
    }
    facts.sync_waves |= input.sync_waves;
    if let Some(a) = argo {
        a.apply(&mut facts);
    }
    Ok(Loaded {
        sources,
        facts,
        read_diags,
    })
}

/// Read the facts file at `path` into `sources` (its diagnostics point into it) and parse it.
fn read_facts(
    path: &Path,
    sources: &mut Sources,
    format: Format,
    verbose: bool,
) -> Result<Facts, ExitCode> {
    let file = source::read_one(path).map_err(fail)?;
    let i = sources.add_settings(file);
    let mut facts = facts::parse(&sources.files[i], i).map_err(|d| {
        print_diagnostics(&[d], sources, format, verbose);
        ExitCode::from(1)
    })?;
    source::read_manifests(&mut facts, path, sources).map_err(|d| {
        print_diagnostics(&[d], sources, format, verbose);
        ExitCode::from(1)
    })?;
    Ok(facts)
}

/// Compile what `load` read (against the resources at a base revision, if given).
fn compile(loaded: &Loaded, base: Option<&Sources>) -> Compilation {
    let mut result = nimc::compile_with_base(&loaded.sources, &loaded.facts, base);
    if !loaded.read_diags.is_empty() {
        let mut all = loaded.read_diags.clone();
        all.append(&mut result.diagnostics);
        diagnostic::sort(&mut all);
        result.diagnostics = all;
        result.objects.clear();
    }
    result
}

fn read_base(input: &InputArgs, rev: &str) -> Result<Sources, ExitCode> {
    source::read_revision(&input.paths, rev).map_err(fail)
}

fn validate(input: &InputArgs, base: Option<&str>, summary: Option<&Path>) -> ExitCode {
    let loaded = match load(input, None) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let base = match base.map(|rev| read_base(input, rev)).transpose() {
        Ok(b) => b,
        Err(code) => return code,
    };
    let result = compile(&loaded, base.as_ref());
    let sources = &loaded.sources;
    print_diagnostics(&result.diagnostics, sources, input.format, input.verbose);
    if let Some(path) = summary {
        let text = diagnostic::markdown_summary(&result.diagnostics, sources);
        let appended = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = appended {
            return fail(format_args!("{}: {e}", path.display()));
        }
    }
    if result.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn diff(input: &InputArgs, rev: &str, exit_code: bool) -> ExitCode {
    let loaded = match load(input, None) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let base = match read_base(input, rev) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let current = compile(&loaded, Some(&base));
    print_diagnostics(
        &current.diagnostics,
        &loaded.sources,
        input.format,
        input.verbose,
    );
    if current.has_errors() {
        return ExitCode::from(1);
    }
    let old = nimc::compile(&base, &loaded.facts);
    if old.has_errors() {
        eprintln!(
            "nimc: the resources at {rev} do not render ({} errors); every object counts as added",
            old.diagnostics.iter().filter(|d| d.is_error()).count()
        );
    }
    let d = gitops::diff(&old.objects, &current.objects);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(d.text.as_bytes()).and_then(|_| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return fail(e);
    }
    eprintln!("nimc: {rev} -> working tree: {}", d.summary());
    if exit_code && !d.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_diagnostics(
    diags: &[diagnostic::Diagnostic],
    sources: &Sources,
    format: Format,
    verbose: bool,
) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        if d.severity == Severity::Note && !verbose {
            continue;
        }
        let text = match format {
            Format::Human => diagnostic::print_human(d, sources),
            Format::Github => diagnostic::print_github(d, sources),
            Format::Json => diagnostic::print_json(d, sources),
        };
        let _ = err.write_all(text.as_bytes());
    }
}

fn summary(c: &Compilation) {
    let read: Vec<String> = c
        .counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    let ignored: usize = c.ignored.values().sum();
    eprintln!(
        "nimc: read {}; rendered {} objects; ignored {ignored} other documents",
        if read.is_empty() {
            "no NIM resources".to_string()
        } else {
            read.join(", ")
        },
        c.objects.len()
    );
    for (kind, n) in &c.ignored {
        eprintln!("nimc:   ignored {n} x {kind}");
    }
}

/// The first input that is the output directory or lies inside it (replacing the directory
/// would delete it). Paths are compared after resolving symlinks and `..`.
fn input_inside<'p>(dir: &Path, inputs: impl Iterator<Item = &'p Path>) -> Option<&'p Path> {
    let dir = fs::canonicalize(dir).ok()?;
    inputs
        .into_iter()
        .find(|p| fs::canonicalize(p).is_ok_and(|p| p.starts_with(&dir)))
}

/// The YAML files of an output directory by path relative to it (`wave-<n>/` folders
/// included); empty when it does not exist.
fn read_output_dir(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if p.is_dir() && is_wave_dir(&name) {
            for inner in fs::read_dir(&p)? {
                let q = inner?.path();
                if is_yaml(&q) {
                    let file = q.file_name().unwrap_or_default().to_string_lossy();
                    files.insert(format!("{name}/{file}"), fs::read_to_string(&q)?);
                }
            }
        } else if is_yaml(&p) {
            files.insert(name, fs::read_to_string(&p)?);
        }
    }
    Ok(files)
}

fn is_yaml(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// `wave-<n>`: a folder `--split-waves` writes.
fn is_wave_dir(name: &str) -> bool {
    name.strip_prefix("wave-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
}

/// True when `dir` holds only what nimc writes: YAML files and `wave-<n>/` folders of YAML
/// files.
fn only_nimc_output(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    for entry in fs::read_dir(dir)? {
        let p = entry?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if p.is_dir() && !p.is_symlink() && is_wave_dir(&name) {
            if let Some(foreign) = only_nimc_output(&p)? {
                return Ok(Some(foreign));
            }
            continue;
        }
        if p.is_symlink() || !is_yaml(&p) || p.is_dir() {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// Write one file per object into `dir`, all or nothing: the files are written into a fresh
/// sibling directory which then replaces `dir`. `dir` may only hold YAML files (nimc's own
/// output); anything else is refused rather than deleted.
fn write_dir(out: &OutputDir, c: &Compilation) -> std::io::Result<()> {
    let dir = out.dir.as_path();
    if dir.exists()
        && let Some(foreign) = only_nimc_output(dir)?
    {
        return Err(std::io::Error::other(format!(
            "refusing to replace an output directory that holds {}; point --output-dir at a directory that only nimc writes",
            foreign.display()
        )));
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let staging = parent.join(format!(".{base}.nimc-new-{}", std::process::id()));
    let old = parent.join(format!(".{base}.nimc-old-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging)?;
    let written = (|| {
        for r in &c.objects {
            let path = staging.join(manifest::output_path(r, out.split_waves));
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(path, &r.yaml)?;
        }
        Ok::<(), std::io::Error>(())
    })();
    if let Err(e) = written {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if dir.exists()
        && let Err(e) = fs::rename(dir, &old)
    {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    if let Err(e) = fs::rename(&staging, dir) {
        if old.exists() {
            let _ = fs::rename(&old, dir);
        }
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    let _ = fs::remove_dir_all(&old);
    Ok(())
}
