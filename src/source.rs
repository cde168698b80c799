//! The input edge: finds the YAML files under the paths the user gave, reads them (or, for
//! `validate --base`, their versions at a git revision), and finds the facts file. This module
//! and `main.rs` are the only places that touch the file system or run programs.
//!
//! Directories are walked recursively in sorted order, honouring `.gitignore` (also outside a git
//! repository) and skipping hidden entries. Symbolic links to YAML files inside the directory
//! are read; links to directories are not followed. A file that is too large, not UTF-8, or a
//! link that loops, dangles or leaves the directory becomes a diagnostic, not an I/O failure.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::Diagnostic;
use crate::facts::Facts;
use crate::profiles;
use crate::yaml::Span;

/// Files larger than this are refused (NIMC002).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One input file: its display path and its text.
#[derive(Clone, Debug, Default)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// All input files, in a deterministic order, followed by the settings files of the run (the
/// facts file, `--patch` files) that diagnostics may point into but that hold no resources.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
    /// Where the settings files start in `files` (`None`: every file is an input).
    pub settings: Option<usize>,
}

impl Sources {
    /// The input files (the resources), without the settings files.
    pub fn inputs(&self) -> &[SourceFile] {
        &self.files[..self
            .settings
            .unwrap_or(self.files.len())
            .min(self.files.len())]
    }

    /// Add a settings file after the inputs and return its index.
    pub fn add_settings(&mut self, file: SourceFile) -> usize {
        self.settings.get_or_insert(self.files.len());
        self.files.push(file);
        self.files.len() - 1
    }

    /// Sources made from in-memory texts (tests, benchmarks, the agent).
    pub fn from_texts<P: Into<String>, T: Into<String>>(
        texts: impl IntoIterator<Item = (P, T)>,
    ) -> Sources {
        Sources {
            files: texts
                .into_iter()
                .map(|(p, t)| SourceFile {
                    path: p.into(),
                    text: t.into(),
                })
                .collect(),
            settings: None,
        }
    }
}

/// An operational failure: a path that does not exist or cannot be read.
#[derive(Debug)]
pub struct SourceError {
    pub path: PathBuf,
    pub error: io::Error,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.error)
    }
}

/// A file found under the input paths, or one refused before reading (with why and a hint).
enum Found {
    File(PathBuf),
    Refused(PathBuf, String, &'static str),
}

impl Found {
    fn path(&self) -> &Path {
        match self {
            Found::File(p) | Found::Refused(p, ..) => p,
        }
    }
}

/// Read every YAML file under `paths`. Returns the sources and the diagnostics for files that
/// were found but refused (too large, not UTF-8, a symbolic link that loops, dangles or leaves
/// the input directory).
pub fn read(paths: &[PathBuf]) -> Result<(Sources, Vec<Diagnostic>), SourceError> {
    let mut found = Vec::new();
    for path in paths {
        let link = fs::symlink_metadata(path).map_err(|error| SourceError {
            path: path.clone(),
            error,
        })?;
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut found)?,
            Ok(_) => found.push(Found::File(path.clone())),
            // The argument exists but is a symbolic link that cannot be followed.
            Err(e) if link.file_type().is_symlink() => found.push(Found::Refused(
                path.clone(),
                format!("symbolic link cannot be followed: {e}"),
                "point the link at a file, or remove it",
            )),
            Err(error) => {
                return Err(SourceError {
                    path: path.clone(),
                    error,
                });
            }
        }
    }
    found.sort_by(|a, b| a.path().cmp(b.path()));
    found.dedup_by(|a, b| a.path() == b.path());

    let mut sources = Sources::default();
    let mut diags = Vec::new();
    let line_one = crate::yaml::Span {
        start: crate::yaml::Pos {
            offset: 0,
            line: 1,
            col: 1,
        },
        end: crate::yaml::Pos {
            offset: 0,
            line: 1,
            col: 1,
        },
    };
    for entry in found {
        let file = sources.files.len();
        let path = match entry {
            Found::File(path) => path,
            Found::Refused(path, message, help) => {
                diags.push(
                    Diagnostic::new("NIMC002", message)
                        .at(file, line_one)
                        .help(help),
                );
                sources.files.push(SourceFile {
                    path: display(&path),
                    text: String::new(),
                });
                continue;
            }
        };
        let display = display(&path);
        let len = fs::metadata(&path)
            .map_err(|error| SourceError {
                path: path.clone(),
                error,
            })?
            .len();
        if len > MAX_FILE_BYTES {
            diags.push(
                Diagnostic::new(
                    "NIMC002",
                    format!("file is {len} bytes; the limit is {MAX_FILE_BYTES}"),
                )
                .at(file, line_one)
                .help("split the manifests into smaller files; nimc refuses larger ones so that a hostile repository cannot exhaust memory"),
            );
            sources.files.push(SourceFile {
                path: display,
                text: String::new(),
            });
            continue;
        }
        let bytes = fs::read(&path).map_err(|error| SourceError {
            path: path.clone(),
            error,
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => sources.files.push(SourceFile {
                path: display,
                text,
            }),
            Err(e) => {
                let offset = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(&e.into_bytes()[..offset]).into_owned();
                let line = text.matches('\n').count() as u32 + 1;
                let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
                let pos = crate::yaml::Pos {
                    offset: offset as u32,
                    line,
                    col,
                };
                diags.push(
                    Diagnostic::new("NIMC002", "file is not valid UTF-8")
                        .at(
                            file,
                            crate::yaml::Span {
                                start: pos,
                                end: pos,
                            },
                        )
                        .help("Kubernetes manifests must be UTF-8 text"),
                );
                sources.files.push(SourceFile {
                    path: display,
                    text,
                });
            }
        }
    }
    Ok((sources, diags))
}

fn is_yaml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
        && path.file_name().is_some_and(|n| n != FACTS_FILE)
}

/// Walk `dir`. Symbolic links to YAML files inside `dir` are read like the files; links to
/// directories are not followed; a link that loops, dangles (when named like YAML) or points
/// outside `dir` is refused, as Argo CD refuses out-of-bounds links.
fn walk(dir: &Path, found: &mut Vec<Found>) -> Result<(), SourceError> {
    let root = fs::canonicalize(dir).map_err(|error| SourceError {
        path: dir.to_path_buf(),
        error,
    })?;
    // The user's global gitignore is left out: the same repository must render the same on
    // every machine.
    let walker = ignore::WalkBuilder::new(dir)
        .require_git(false)
        .git_global(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| SourceError {
            path: dir.to_path_buf(),
            error: io::Error::other(e.to_string()),
        })?;
        let Some(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_file() {
            if is_yaml(path) {
                found.push(Found::File(entry.into_path()));
            }
            continue;
        }
        if !kind.is_symlink() {
            continue;
        }
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                // Not followed; but a link to one of its own ancestors is a loop, which a
                // tool that does follow links (or a checkout on another system) trips over.
                let target = fs::canonicalize(path);
                let parent = path.parent().and_then(|p| fs::canonicalize(p).ok());
                if let (Ok(t), Some(p)) = (target, parent)
                    && p.starts_with(&t)
                {
                    found.push(Found::Refused(
                        entry.into_path(),
                        "symbolic link to a parent directory makes a loop".into(),
                        "remove the link; nimc does not follow directory links",
                    ));
                }
            }
            Ok(_) if !is_yaml(path) => {}
            Ok(_) => {
                let inside = fs::canonicalize(path).is_ok_and(|t| t.starts_with(&root));
                found.push(match inside {
                    true => Found::File(entry.into_path()),
                    false => Found::Refused(
                        entry.into_path(),
                        "symbolic link points outside the input directory".into(),
                        "copy the file into the repository; links out of it are not read",
                    ),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !is_yaml(path) => {}
            Err(e) => found.push(Found::Refused(
                entry.into_path(),
                format!("symbolic link cannot be followed: {e}"),
                "a link that loops or dangles cannot be read; fix or remove it",
            )),
        }
    }
    Ok(())
}

fn display(path: &Path) -> String {
    let s = path.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// The facts file name looked up at the repository root.
pub const FACTS_FILE: &str = "nimc.yaml";

/// Find `nimc.yaml` for an input path: in the path's directory or the nearest ancestor, stopping
/// at the root of the git repository that contains it.
pub fn find_facts(path: &Path) -> Option<PathBuf> {
    let start = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()?.to_path_buf()
    };
    let start = fs::canonicalize(&start).unwrap_or(start);
    for dir in start.ancestors() {
        let candidate = dir.join(FACTS_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    None
}

/// Read the model manifests the facts name (`modelManifests`, paths relative to the facts file
/// at `facts_path`) into `sources` as settings files, so that diagnostics, `render --check` and
/// the GitOps integrations see them, and parse them into `facts.manifests`. A file that cannot
/// be read or parsed is a located diagnostic (NIMC035).
pub fn read_manifests(
    facts: &mut Facts,
    facts_path: &Path,
    sources: &mut Sources,
) -> Result<(), Diagnostic> {
    let dir = facts_path.parent().unwrap_or(Path::new(""));
    // Manifests come from the repository the facts file belongs to (its git work tree, else
    // its folder): a facts file must not make nimc read, and echo, other files of the host.
    let dir_real = fs::canonicalize(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    })
    .unwrap_or_else(|_| dir.to_path_buf());
    let root = dir_real
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&dir_real)
        .to_path_buf();
    for (image, file) in &facts.model_manifests {
        let entry = |d: Diagnostic| match facts.manifest_at.get(image) {
            Some(&(i, span)) => d.at(i, span),
            None => d,
        };
        let path = dir.join(file);
        let text = fs::canonicalize(&path)
            .and_then(|real| match real.starts_with(&root) {
                true => Ok(real),
                false => Err(io::Error::other(format!(
                    "it lies outside {}",
                    display(&root)
                ))),
            })
            .and_then(|real| {
                let m = fs::metadata(&real)?;
                if !m.is_file() {
                    return Err(io::Error::other("not a regular file"));
                }
                let mut text = String::new();
                io::Read::take(fs::File::open(&real)?, MAX_FILE_BYTES + 1)
                    .read_to_string(&mut text)?;
                match text.len() as u64 > MAX_FILE_BYTES {
                    true => Err(io::Error::other(format!(
                        "larger than {} MiB",
                        MAX_FILE_BYTES >> 20
                    ))),
                    false => Ok(text),
                }
            })
            .map_err(|e| {
                entry(Diagnostic::new(
                    "NIMC035",
                    format!("model manifest of {image}: cannot read {}: {e}", display(&path)),
                ))
                .help(format!(
                    "the path is relative to the facts file; get the manifest with: docker run --rm --entrypoint cat {image} /etc/nim/config/model_manifest.yaml > {file}"
                ))
            })?;
        let i = sources.add_settings(SourceFile {
            path: display(&path),
            text,
        });
        let manifest = profiles::parse(&sources.files[i].text).map_err(|e| {
            Diagnostic::new(
                "NIMC035",
                format!("model manifest of {image}: {}", e.message),
            )
            .at(i, Span { start: e.pos, end: e.pos })
            .help("a model manifest is the image's /etc/nim/config/model_manifest.yaml (schema v1 or v2); see nimc explain NIMC035")
        })?;
        facts.manifests.insert(image.clone(), Arc::new(manifest));
    }
    Ok(())
}

/// Read one file as a source (the facts file).
pub fn read_one(path: &Path) -> Result<SourceFile, SourceError> {
    let text = fs::read_to_string(path).map_err(|error| SourceError {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(SourceFile {
        path: display(path),
        text,
    })
}

/// Read the YAML files under `paths` as they were at git revision `rev` (for `validate --base`):
/// the same paths, resolved inside the git repository that holds the first one, read with
/// `git ls-tree` and `git cat-file`. Display paths are `<rev>:<path in the repository>`. Files
/// that are too large or not UTF-8 are skipped: the base revision is only compared against.
pub fn read_revision(paths: &[PathBuf], rev: &str) -> Result<Sources, SourceError> {
    let first = paths.first().map_or(Path::new("."), PathBuf::as_path);
    let fail = |message: String| SourceError {
        path: first.to_path_buf(),
        error: io::Error::other(message),
    };
    let dir = if first.is_dir() {
        first.to_path_buf()
    } else {
        first
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    };
    let top = git(&dir, &["rev-parse", "--show-toplevel"], None)
        .map_err(|e| fail(format!("--base needs a git repository: {e}")))?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim_end());
    let top = fs::canonicalize(&top).unwrap_or(top);
    let commit = git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
        None,
    )
    .map_err(|_| fail(format!("--base {rev}: no such commit")))?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    let mut specs = Vec::new();
    for p in paths {
        let abs = fs::canonicalize(p).map_err(|error| SourceError {
            path: p.clone(),
            error,
        })?;
        let rel = abs
            .strip_prefix(&top)
            .map_err(|_| fail(format!("{} is outside the git repository", p.display())))?;
        let rel = rel.to_string_lossy().into_owned();
        specs.push(if rel.is_empty() { ".".into() } else { rel });
    }
    let mut args = vec!["ls-tree", "-r", "-z", "--name-only", commit.as_str(), "--"];
    args.extend(specs.iter().map(String::as_str));
    let listing = git(&top, &args, None).map_err(fail)?;
    let mut names: Vec<String> = listing
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .filter(|n| is_yaml(Path::new(n)) && !n.split('/').any(|c| c.starts_with('.')))
        .collect();
    names.sort();
    names.dedup();
    let request: String = names.iter().map(|n| format!("{commit}:{n}\n")).collect();
    let out = git(&top, &["cat-file", "--batch"], Some(request.as_bytes())).map_err(fail)?;
    let mut sources = Sources::default();
    let mut rest = out.as_slice();
    for name in names {
        let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        let Some(size) = header
            .split(' ')
            .nth(2)
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue; // "<object> missing"
        };
        let Some(body) = rest.get(..size) else { break };
        rest = rest.get(size + 1..).unwrap_or_default();
        if size as u64 > MAX_FILE_BYTES {
            continue;
        }
        if let Ok(text) = std::str::from_utf8(body) {
            sources.files.push(SourceFile {
                path: format!("{rev}:{name}"),
                text: text.to_string(),
            });
        }
    }
    Ok(sources)
}

/// Run git in `dir` and return its stdout, or its stderr as the error.
fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // Write stdin from a thread: git writes its answers while it reads the questions.
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git failed: {e}"))?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
