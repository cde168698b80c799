//! The NIM Operator releases nimc reproduces. The `operatorVersion` fact names one; every
//! difference between them is a field of [`Behaviour`], set in the one table [`PROFILES`], so
//! that the phases ask "does this operator require authSecret?" rather than compare versions.
//!
//! Releases are cut from the operator's `release-3.0` branch by cherry-pick. Between the
//! v3.1.2 tag and commit f63f74d7 of `main` the only change to validation or rendering is PR
//! #910 (commit 767135c8, "Remove authSecret reqs for Air gapped use"), so that is all the
//! profiles differ in. A stock install of either sets no `OPERATOR_VERSION`, so both write
//! an empty `app.kubernetes.io/operator-version` label.

use std::fmt;

/// How one operator release validates and renders.
#[derive(Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// The profile's name, as `operatorVersion` spells it.
    pub name: &'static str,
    /// What it reproduces (for `--version`, `--verbose` and the docs).
    pub reproduces: &'static str,
    /// `spec.authSecret` of a NIMService (and of a NIMPipeline service) is required: the CRD
    /// lists it in `required` and the webhook refuses an empty one. Otherwise an empty one is
    /// a warning and NGC_API_KEY is left out.
    pub auth_secret_required: bool,
    /// NGC_API_KEY is the second entry of the standard container env, right after
    /// NIM_CACHE_PATH (an empty authSecret cannot reach rendering there); otherwise it follows
    /// NIM_LOG_LEVEL, only when authSecret is set.
    pub ngc_api_key_second: bool,
    /// The value of the `app.kubernetes.io/operator-version` label (the operator's
    /// `OPERATOR_VERSION` environment variable, which its manifests never set).
    pub version_label: &'static str,
}

/// The profiles, newest first. The first is the default.
pub const PROFILES: &[Behaviour] = &[
    Behaviour {
        name: "main-f63f74d7",
        reproduces: "NIM Operator main at commit f63f74d7 (2026-08-19), after PR #910",
        auth_secret_required: false,
        ngc_api_key_second: false,
        version_label: "",
    },
    Behaviour {
        name: "3.1.2",
        reproduces: "NIM Operator v3.1.2 (tag v3.1.2 of release-3.0, 2026-08-05)",
        auth_secret_required: true,
        ngc_api_key_second: true,
        version_label: "",
    },
];

/// An `operatorVersion` value: one of [`PROFILES`] (a leading `v` is accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorVersion(&'static Behaviour);

impl OperatorVersion {
    pub fn behaviour(self) -> &'static Behaviour {
        self.0
    }

    /// The profile named `name`, or an error that lists the known ones.
    pub fn parse(name: &str) -> Result<OperatorVersion, String> {
        // `""` was the documented default when the fact only set the label.
        if name.is_empty() {
            return Ok(OperatorVersion::default());
        }
        let wanted = name
            .strip_prefix('v')
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        PROFILES
            .iter()
            .find(|b| b.name == name || Some(b.name) == wanted)
            .map(OperatorVersion)
            .ok_or_else(|| {
                let known: Vec<&str> = PROFILES.iter().map(|b| b.name).collect();
                format!(
                    "unknown operatorVersion `{name}`; nimc reproduces {} (the label alone is set with operatorVersionLabel)",
                    known.join(", ")
                )
            })
    }
}

impl Default for OperatorVersion {
    fn default() -> Self {
        OperatorVersion(&PROFILES[0])
    }
}

impl fmt::Display for OperatorVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name)
    }
}

impl<'de> serde::Deserialize<'de> for OperatorVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        OperatorVersion::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_name_and_unknown_names_list_them() {
        assert_eq!(
            OperatorVersion::parse("3.1.2").unwrap().to_string(),
            "3.1.2"
        );
        assert_eq!(
            OperatorVersion::parse("v3.1.2").unwrap().to_string(),
            "3.1.2"
        );
        assert_eq!(OperatorVersion::default().to_string(), "main-f63f74d7");
        let e = OperatorVersion::parse("3.0.0").unwrap_err();
        assert!(e.contains("main-f63f74d7, 3.1.2"), "{e}");
        assert_eq!(
            OperatorVersion::parse("").unwrap(),
            OperatorVersion::default()
        );
    }
}
