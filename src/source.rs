//! The input edge: finds the YAML files under the paths the user gave, reads them, and finds the
//! facts file. This module and `main.rs` are the only places that touch the file system.
//!
//! Directories are walked recursively in sorted order, honouring `.gitignore` (also outside a git
//! repository), skipping hidden entries and not following symbolic links. A file that is too
//! large or not UTF-8 becomes a diagnostic, not an I/O failure.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;

/// Files larger than this are refused (NIMC002).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One input file: its display path and its text.
#[derive(Clone, Debug, Default)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// All input files, in a deterministic order.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
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

/// Read every YAML file under `paths`. Returns the sources and the diagnostics for files that
/// were found but refused (too large, not UTF-8).
pub fn read(paths: &[PathBuf]) -> Result<(Sources, Vec<Diagnostic>), SourceError> {
    let mut found = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|error| SourceError {
            path: path.clone(),
            error,
        })?;
        if meta.is_dir() {
            walk(path, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    found.sort();
    found.dedup();

    let mut sources = Sources::default();
    let mut diags = Vec::new();
    for path in found {
        let display = display(&path);
        let file = sources.files.len();
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
                .at_file(file),
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

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), SourceError> {
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
        let is_file = entry.file_type().is_some_and(|t| t.is_file());
        let yaml = entry
            .path()
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml");
        if is_file && yaml && entry.file_name() != FACTS_FILE {
            found.push(entry.into_path());
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
