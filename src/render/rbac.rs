//! The ServiceAccount, Role and RoleBinding every NIMService gets. The Role only grants `use` of
//! an OpenShift SecurityContextConstraints; it is emitted on every cluster, as upstream.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::meta::{Map, object_meta};
use crate::model::Service;

pub fn service_account(s: &Service) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(&s.name, &s.namespace, s.labels.clone(), Map::new()),
        ..Default::default()
    }
}

/// The SCC the Role grants. Upstream tests `spec.proxy` here but `proxy.certConfigMap` for the
/// pod annotation; both are reproduced.
fn role_scc(s: &Service) -> &'static str {
    if s.spec.proxy.is_some() {
        "anyuid"
    } else if s
        .spec
        .storage
        .host_path
        .as_ref()
        .is_some_and(|h| !h.is_empty())
    {
        "hostmount-anyuid"
    } else {
        "nonroot"
    }
}

pub fn scc_rule(scc: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["security.openshift.io".into()]),
        resources: Some(vec!["securitycontextconstraints".into()]),
        verbs: vec!["use".into()],
        resource_names: Some(vec![scc.into()]),
        ..Default::default()
    }
}

pub fn role(s: &Service) -> Role {
    Role {
        metadata: object_meta(&s.name, &s.namespace, s.labels.clone(), Map::new()),
        rules: Some(vec![scc_rule(role_scc(s))]),
    }
}

/// A RoleBinding of Role `name` to ServiceAccount `name`.
pub fn binding(name: &str, role: &str, account: &str, namespace: &str, labels: Map) -> RoleBinding {
    RoleBinding {
        metadata: object_meta(name, namespace, labels, Map::new()),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: account.into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    }
}

pub fn role_binding(s: &Service) -> RoleBinding {
    binding(&s.name, &s.name, &s.name, &s.namespace, s.labels.clone())
}
