//! The `nimc` command line: the I/O edge around [`nimc::compile`]. Reads files and the facts
//! file, prints objects to stdout (or writes `--output-dir` atomically) and diagnostics to
//! stderr. Exit status: 0 rendered, 1 the input has errors (nothing written), 2 usage or I/O
//! failure.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use nimc::diagnostic::{self, Severity};

/// Rendering allocates and frees many small objects on every core; mimalloc keeps that cheap
/// where glibc's allocator spends a quarter of the time consolidating and trimming its heap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use nimc::facts::{self, Facts};
use nimc::source::{self, Sources};
use nimc::{Compilation, manifest};

#[derive(Parser)]
#[command(
    name = "nimc",
    version,
    about = "Compile NVIDIA NIM Operator custom resources into the Kubernetes objects the operator would create, without a controller"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render NIMService, NIMCache and NIMPipeline resources into Kubernetes objects.
    ///
    /// Objects go to stdout as multi-document YAML in install order (kind rank, namespace,
    /// name); diagnostics go to stderr. Exit status: 0 rendered, 1 input errors (nothing is
    /// written), 2 usage or I/O failure.
    Render {
        /// Files or directories to read (directories recursively, honouring .gitignore).
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Cluster facts file; default: nimc.yaml in the first path's directory or the nearest
        /// ancestor up to the git repository root.
        #[arg(long, value_name = "FILE")]
        facts: Option<PathBuf>,
        /// Write one file per object into DIR (replacing its YAML files) instead of stdout.
        /// All files appear, or none do.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// Diagnostic format on stderr.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also print notes and a summary of what was read and ignored.
        #[arg(short, long)]
        verbose: bool,
        /// Annotate objects with Argo CD sync waves that follow NIMPipeline dependencies (a
        /// service one wave after its deepest dependency, its NIMCache the wave before it).
        #[arg(long)]
        sync_waves: bool,
    },
    /// Check NIM resources without rendering: the same rules `render` applies.
    ///
    /// Exit status: 0 no errors (warnings are fine), 1 errors found, 2 usage or I/O failure.
    Validate {
        /// Files or directories to read (directories recursively, honouring .gitignore).
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Cluster facts file (as for render).
        #[arg(long, value_name = "FILE")]
        facts: Option<PathBuf>,
        /// Diagnostic format on stderr (json: one object per line).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Also print notes.
        #[arg(short, long)]
        verbose: bool,
        /// Check as `render --sync-waves` would (a NIMPipeline dependency cycle is an error).
        #[arg(long)]
        sync_waves: bool,
        /// Also apply the update-time rules: compare each resource with its version at this git
        /// revision (e.g. origin/main) and report changes the cluster refuses (NIMC028).
        #[arg(long, value_name = "GIT_REV")]
        base: Option<String>,
    },
    /// Print the documentation of a diagnostic code (e.g. NIMC007).
    Explain {
        /// The code, e.g. NIMC007.
        code: String,
    },
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
            paths,
            facts,
            output_dir,
            format,
            verbose,
            sync_waves,
        } => render(
            &paths,
            facts.as_deref(),
            output_dir.as_deref(),
            format,
            verbose,
            sync_waves,
        ),
        Command::Validate {
            paths,
            facts,
            format,
            verbose,
            sync_waves,
            base,
        } => validate(
            &paths,
            facts.as_deref(),
            format,
            verbose,
            sync_waves,
            base.as_deref(),
        ),
        Command::Explain { code } => explain(&code),
    }
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

fn render(
    paths: &[PathBuf],
    facts_path: Option<&Path>,
    output_dir: Option<&Path>,
    format: Format,
    verbose: bool,
    sync_waves: bool,
) -> ExitCode {
    let inputs = || paths.iter().map(PathBuf::as_path).chain(facts_path);
    if let Some(dir) = output_dir
        && let Some(input) = input_inside(dir, inputs())
    {
        return fail(format_args!(
            "refusing to replace {}: it holds the input {}; write the output somewhere else",
            dir.display(),
            input.display()
        ));
    }
    let (sources, result) =
        match compile_paths(paths, facts_path, sync_waves, format, verbose, None) {
            Ok(r) => r,
            Err(code) => return code,
        };
    print_diagnostics(&result.diagnostics, &sources, format, verbose);
    if verbose {
        summary(&result);
    }
    if result.has_errors() {
        return ExitCode::from(1);
    }
    match output_dir {
        Some(dir) => match write_dir(dir, &result) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format_args!("{}: {e}", dir.display())),
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

/// Read the paths and the facts file and compile. On a usage, I/O or facts failure the exit
/// code to return (the problem is already printed).
fn compile_paths(
    paths: &[PathBuf],
    facts_path: Option<&Path>,
    sync_waves: bool,
    format: Format,
    verbose: bool,
    base: Option<&str>,
) -> Result<(Sources, Compilation), ExitCode> {
    let (sources, read_diags) = match source::read(paths) {
        Ok(r) => r,
        Err(e) => return Err(fail(e)),
    };
    let facts_path = facts_path
        .map(Path::to_path_buf)
        .or_else(|| paths.first().and_then(|p| source::find_facts(p)));
    let mut facts = match facts_path {
        None => Facts::default(),
        Some(p) => {
            let facts_sources = match source::read_one(&p) {
                Ok(f) => Sources { files: vec![f] },
                Err(e) => return Err(fail(e)),
            };
            match facts::parse(&facts_sources.files[0], 0) {
                Ok(f) => f,
                Err(d) => {
                    print_diagnostics(&[d], &facts_sources, format, verbose);
                    return Err(ExitCode::from(1));
                }
            }
        }
    };
    facts.sync_waves |= sync_waves;
    let base = match base
        .map(|rev| source::read_revision(paths, rev))
        .transpose()
    {
        Ok(b) => b,
        Err(e) => return Err(fail(e)),
    };
    let mut result = nimc::compile_with_base(&sources, &facts, base.as_ref());
    if !read_diags.is_empty() {
        let mut all = read_diags;
        all.append(&mut result.diagnostics);
        diagnostic::sort(&mut all);
        result.diagnostics = all;
        result.objects.clear();
    }
    Ok((sources, result))
}

fn validate(
    paths: &[PathBuf],
    facts_path: Option<&Path>,
    format: Format,
    verbose: bool,
    sync_waves: bool,
    base: Option<&str>,
) -> ExitCode {
    let (sources, result) =
        match compile_paths(paths, facts_path, sync_waves, format, verbose, base) {
            Ok(r) => r,
            Err(code) => return code,
        };
    print_diagnostics(&result.diagnostics, &sources, format, verbose);
    if result.has_errors() {
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

/// Write one file per object into `dir`, all or nothing: the files are written into a fresh
/// sibling directory which then replaces `dir`. `dir` may only hold YAML files (nimc's own
/// output); anything else is refused rather than deleted.
/// The first input that is the output directory or lies inside it (replacing the directory
/// would delete it). Paths are compared after resolving symlinks and `..`.
fn input_inside<'p>(dir: &Path, inputs: impl Iterator<Item = &'p Path>) -> Option<&'p Path> {
    let dir = fs::canonicalize(dir).ok()?;
    inputs
        .into_iter()
        .find(|p| fs::canonicalize(p).is_ok_and(|p| p.starts_with(&dir)))
}

fn write_dir(dir: &Path, c: &Compilation) -> std::io::Result<()> {
    if dir.exists() {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let p = entry.path();
            let yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if !entry.file_type()?.is_file() || !yaml {
                return Err(std::io::Error::other(format!(
                    "refusing to replace an output directory that holds {}; point --output-dir at a directory that only nimc writes",
                    p.display()
                )));
            }
        }
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
            fs::write(staging.join(manifest::file_name(r)), &r.yaml)?;
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
