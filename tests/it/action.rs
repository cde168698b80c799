//! The GitHub Action (`action.yml`) executed the way the runner executes a composite action:
//! each `run` step as a bash script with the `GITHUB_*` files and variables, `${{ }}`
//! expressions resolved from the inputs, the runner context and earlier step outputs, `if:`
//! conditions honoured, and `GITHUB_PATH` additions visible to later steps. The one `uses`
//! step (actions/cache) is played as a cache hit holding the nimc built for the tests.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{nimc, root, yaml_docs};

struct Run {
    /// Per step id (or index): exit status and combined output.
    steps: Vec<(String, i32, String)>,
    outputs: BTreeMap<String, String>,
    summary: String,
}

/// Resolve the `${{ ... }}` expressions the action uses.
fn expand(text: &str, ctx: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find("}}").expect("closed expression") + i;
        let expr = rest[i + 3..end].trim();
        out.push_str(
            ctx.get(expr)
                .unwrap_or_else(|| panic!("unknown expression {expr}")),
        );
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The `if:` forms the action uses: `inputs.NAME != ''`.
fn condition(cond: &str, ctx: &BTreeMap<String, String>) -> bool {
    let (lhs, rhs) = cond.split_once("!=").expect("supported condition");
    assert_eq!(rhs.trim(), "''", "supported condition: {cond}");
    !ctx[lhs.trim()].is_empty()
}

fn run_action(workspace: &Path, inputs: &[(&str, &str)]) -> Run {
    let action = yaml_docs(&fs::read_to_string(root().join("action.yml")).unwrap())
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(action["runs"]["using"], "composite");
    let temp = workspace.join("../runner-temp");
    fs::create_dir_all(&temp).unwrap();
    let temp = temp.canonicalize().unwrap();
    let summary = temp.join("summary.md");
    let path_file = temp.join("path.txt");
    fs::write(&summary, "").unwrap();
    fs::write(&path_file, "").unwrap();

    let mut ctx: BTreeMap<String, String> = BTreeMap::new();
    for (name, spec) in action["inputs"].as_object().unwrap() {
        let default = spec["default"].as_str().unwrap_or_default().to_string();
        ctx.insert(format!("inputs.{name}"), default);
    }
    for (k, v) in inputs {
        assert!(
            ctx.contains_key(&format!("inputs.{k}")),
            "unknown input {k}"
        );
        ctx.insert(format!("inputs.{k}"), v.to_string());
    }
    ctx.insert("runner.os".into(), "Linux".into());
    ctx.insert("runner.arch".into(), "X64".into());
    ctx.insert("runner.temp".into(), temp.display().to_string());
    ctx.insert("github.action_path".into(), root().display().to_string());

    let mut run = Run {
        steps: Vec::new(),
        outputs: BTreeMap::new(),
        summary: String::new(),
    };
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let id = step["id"].as_str().map_or(i.to_string(), str::to_string);
        if let Some(cond) = step["if"].as_str()
            && !condition(cond, &ctx)
        {
            continue;
        }
        if let Some(uses) = step["uses"].as_str() {
            assert!(
                uses.starts_with("actions/cache@"),
                "unexpected action {uses}"
            );
            // A cache hit: the path holds the nimc built for these tests.
            let path = PathBuf::from(expand(step["with"]["path"].as_str().unwrap(), &ctx));
            fs::create_dir_all(path.join("bin")).unwrap();
            fs::copy(nimc(), path.join("bin/nimc")).unwrap();
            ctx.insert(format!("steps.{id}.outputs.cache-hit"), "true".into());
            continue;
        }
        assert_eq!(step["shell"], "bash", "every run step names its shell");
        let script = temp.join(format!("step-{i}.sh"));
        fs::write(&script, step["run"].as_str().unwrap()).unwrap();
        let output_file = temp.join(format!("output-{i}.txt"));
        fs::write(&output_file, "").unwrap();
        let added: Vec<String> = fs::read_to_string(&path_file)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let path = added
            .iter()
            .rev()
            .cloned()
            .chain([std::env::var("PATH").unwrap()])
            .collect::<Vec<_>>()
            .join(":");
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(workspace)
            .env("PATH", path)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_ACTION_PATH", root())
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_PATH", &path_file)
            .env("RUNNER_TEMP", &temp);
        if let Some(env) = step["env"].as_object() {
            for (k, v) in env {
                let v = match v {
                    Value::String(s) => expand(s, &ctx),
                    other => other.to_string(),
                };
                cmd.env(k, v);
            }
        }
        let o = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let code = o.status.code().unwrap_or(-1);
        for line in fs::read_to_string(&output_file).unwrap().lines() {
            if let Some((k, v)) = line.split_once('=') {
                ctx.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
            }
        }
        run.steps.push((id, code, text));
        if code != 0 {
            break;
        }
    }
    for (name, spec) in action["outputs"].as_object().unwrap() {
        let value = spec["value"].as_str().unwrap();
        let inner = value
            .trim_start_matches("${{")
            .trim_end_matches("}}")
            .trim();
        if let Some(v) = ctx.get(inner) {
            run.outputs.insert(name.clone(), v.clone());
        }
    }
    run.summary = fs::read_to_string(&summary).unwrap();
    run
}

fn step<'a>(run: &'a Run, id: &str) -> &'a (String, i32, String) {
    run.steps
        .iter()
        .find(|s| s.0 == id)
        .unwrap_or_else(|| panic!("step {id} did not run: {:?}", run.steps))
}

#[test]
fn github_action_validates_renders_and_checks_freshness() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("workspace");
    let nim = ws.join("nim");
    fs::create_dir_all(&nim).unwrap();
    for e in fs::read_dir(root().join("examples/basic")).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, nim.join(p.file_name().unwrap())).unwrap();
    }
    // The committed output, rendered earlier.
    let o = Command::new(nimc())
        .args(["render", "nim", "--output-dir", "manifests"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(o.status.success());

    let run = run_action(&ws, &[("paths", "nim"), ("check-rendered", "manifests")]);
    for (id, code, text) in &run.steps {
        assert_eq!(*code, 0, "step {id}: {text}");
    }
    let objects: usize = run.outputs["objects"].parse().unwrap();
    assert!(objects > 0);
    assert_eq!(fs::read_dir(ws.join("rendered")).unwrap().count(), objects);
    assert_eq!(run.outputs["stale"], "false");
    assert_eq!(run.outputs["output-dir"], "rendered");
    assert!(run.summary.contains("### nimc validate"), "{}", run.summary);
    assert!(run.summary.contains(&format!("Rendered {objects} objects")));

    // Committed output edited by hand: the check fails and says which file.
    let file = fs::read_dir(ws.join("manifests"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(&file, "kind: Edited\n").unwrap();
    let run = run_action(&ws, &[("paths", "nim"), ("check-rendered", "manifests")]);
    let (_, code, text) = step(&run, "check");
    assert_eq!(*code, 1, "{text}");
    assert_eq!(run.outputs["stale"], "true");
    assert!(text.contains("changed: "), "{text}");
    assert!(
        run.summary.contains("Stale rendered output"),
        "{}",
        run.summary
    );

    // A broken resource: annotations on its line, the table in the summary, no render.
    fs::write(
        nim.join("broken.yaml"),
        "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nmetadata: {name: x, namespace: n}\nspec:\n  replica: 2\n",
    )
    .unwrap();
    let run = run_action(&ws, &[("paths", "nim")]);
    let (_, code, text) = step(&run, "validate");
    assert_eq!(*code, 1);
    assert!(
        text.contains("::error file=nim/broken.yaml,line=5,col=3,title=NIMC003::"),
        "{text}"
    );
    assert!(
        run.summary
            .contains("| error | `NIMC003` | `nim/broken.yaml:5` |"),
        "{}",
        run.summary
    );
    assert!(
        !run.steps.iter().any(|s| s.0 == "render"),
        "rendering stops at errors"
    );
}
