//! nimc's integration tests, one binary (see ARCHITECTURE.md, "Tests"):
//! - `examples`: every `examples/*/` renders byte for byte to `tests/golden/<name>.yaml`
//!   (re-bless with `UPDATE_EXPECT=1 cargo test`);
//! - `conformance`: the operator's own objects in `../shared/conformance/cases`;
//! - `schemas`: rendered objects against the typed Kubernetes API and the upstream CRDs;
//! - `cli`: exit codes, diagnostics, `--output-dir`, determinism.

mod action;
#[cfg(feature = "agent")]
mod agent;
mod apiserver;
mod cli;
mod conformance;
mod examples;
#[cfg(feature = "agent")]
mod fake_api;
mod fixtures;
mod gitops;
mod precommit;
mod profiles;
mod robustness;
mod rules;
mod schemas;
mod status;
mod support;
