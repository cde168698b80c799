//! How a NIMService is reached: its Service, and optionally an Ingress (router form or the
//! legacy `expose.ingress` form), a Gateway API HTTPRoute and GRPCRoute.

use k8s_openapi::api::core::v1::{Service as CoreService, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::crd::{
    BackendRef, GrpcRoute, GrpcRouteRule, GrpcRouteSpec, HttpPathMatch, HttpRoute, HttpRouteMatch,
    HttpRouteRule, HttpRouteSpec, ParentRef,
};
use super::meta::{Map, merge_maps, object_meta};
use crate::defaults::DEFAULT_PORT;
use crate::model::Service;

/// The API port (`expose.service.port`, 8000 by default).
pub fn api_port(s: &Service) -> i32 {
    s.spec
        .expose
        .service
        .as_ref()
        .and_then(|x| x.port)
        .unwrap_or(DEFAULT_PORT)
}

pub fn grpc_port(s: &Service) -> Option<i32> {
    s.spec.expose.service.as_ref().and_then(|x| x.grpc_port)
}

pub fn metrics_port(s: &Service) -> Option<i32> {
    s.spec.expose.service.as_ref().and_then(|x| x.metrics_port)
}

/// The named ports: api, then grpc and metrics when set.
pub fn named_ports(s: &Service) -> Vec<(&'static str, i32)> {
    let mut ports = vec![("api", api_port(s))];
    ports.extend(grpc_port(s).map(|p| ("grpc", p)));
    ports.extend(metrics_port(s).map(|p| ("metrics", p)));
    ports
}

pub fn service(s: &Service) -> CoreService {
    let expose = s.spec.expose.service.clone().unwrap_or_default();
    let labels = merge_maps(&s.labels.clone(), &expose.labels);
    let annotations = merge_maps(&s.annotations.clone(), &expose.annotations);
    let ports = named_ports(s)
        .into_iter()
        .map(|(name, port)| ServicePort {
            name: Some(name.into()),
            port,
            target_port: Some(IntOrString::String(name.into())),
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect();
    CoreService {
        metadata: object_meta(&s.name, &s.namespace, labels, annotations),
        spec: Some(ServiceSpec {
            type_: Some(
                expose
                    .type_
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "ClusterIP".into()),
            ),
            selector: Some(match &s.multinode {
                Some(_) => super::multinode::leader_selector(s),
                None => Map::from([("app".into(), s.name.clone())]),
            }),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

/// `<name>.<namespace>.<hostDomainName>`, concatenated as upstream does.
pub fn host(s: &Service) -> String {
    let domain = s
        .spec
        .expose
        .router
        .as_ref()
        .and_then(|r| r.host_domain_name.clone())
        .unwrap_or_default();
    format!("{}.{}.{}", s.name, s.namespace, domain)
}

fn router_annotations(s: &Service) -> Map {
    let extra = s
        .spec
        .expose
        .router
        .as_ref()
        .map(|r| r.annotations.clone())
        .unwrap_or_default();
    merge_maps(&s.annotations.clone(), &extra)
}

pub fn ingress(s: &Service) -> Option<Ingress> {
    let expose = &s.spec.expose;
    if let Some(legacy) = expose.ingress.as_ref().filter(|i| i.enabled == Some(true)) {
        return Some(Ingress {
            metadata: object_meta(
                &s.name,
                &s.namespace,
                s.labels.clone(),
                merge_maps(&s.annotations.clone(), &legacy.annotations),
            ),
            spec: legacy.spec.clone(),
            status: None,
        });
    }
    let router = expose.router.as_ref()?;
    let ri = router
        .ingress
        .as_ref()
        .filter(|i| !i.ingress_class.is_empty())?;
    let host = host(s);
    let tls = ri
        .tls_secret_name
        .as_ref()
        .filter(|t| !t.is_empty())
        .map(|secret| {
            vec![IngressTLS {
                hosts: Some(vec![host.clone()]),
                secret_name: Some(secret.clone()),
            }]
        });
    Some(Ingress {
        metadata: object_meta(
            &s.name,
            &s.namespace,
            s.labels.clone(),
            router_annotations(s),
        ),
        spec: Some(IngressSpec {
            ingress_class_name: Some(ri.ingress_class.clone()),
            rules: Some(vec![IngressRule {
                host: Some(host),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: s.name.clone(),
                                port: Some(ServiceBackendPort {
                                    name: Some("api".into()),
                                    number: None,
                                }),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            tls,
            default_backend: None,
        }),
        status: None,
    })
}

fn parent_refs(s: &Service) -> Vec<ParentRef> {
    let gw = s
        .spec
        .expose
        .router
        .as_ref()
        .and_then(|r| r.gateway.as_ref());
    gw.map(|g| {
        vec![ParentRef {
            name: g.name.clone(),
            namespace: Some(g.namespace.clone()),
        }]
    })
    .unwrap_or_default()
}

pub fn http_route(s: &Service) -> Option<HttpRoute> {
    let gw = s.spec.expose.router.as_ref()?.gateway.as_ref()?;
    if gw.http_routes_enabled != Some(true) {
        return None;
    }
    let backend = match &gw.backend_ref {
        Some(b) => BackendRef {
            group: b.group.clone(),
            kind: b.kind.clone(),
            name: b.name.clone(),
            namespace: b.namespace.clone(),
            port: b.port,
            weight: b.weight,
        },
        None => BackendRef {
            group: None,
            kind: None,
            name: s.name.clone(),
            namespace: None,
            port: Some(api_port(s)),
            weight: None,
        },
    };
    Some(HttpRoute {
        api_version: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: object_meta(
            &s.name,
            &s.namespace,
            s.labels.clone(),
            router_annotations(s),
        ),
        spec: HttpRouteSpec {
            parent_refs: parent_refs(s),
            hostnames: vec![host(s)],
            rules: vec![HttpRouteRule {
                backend_refs: vec![backend],
                matches: vec![HttpRouteMatch {
                    path: HttpPathMatch {
                        type_: "PathPrefix".into(),
                        value: "/".into(),
                    },
                }],
            }],
        },
    })
}

pub fn grpc_route(s: &Service) -> Option<GrpcRoute> {
    let gw = s.spec.expose.router.as_ref()?.gateway.as_ref()?;
    if gw.grpc_routes_enabled != Some(true) {
        return None;
    }
    let spec = match grpc_port(s) {
        Some(port) => GrpcRouteSpec {
            parent_refs: parent_refs(s),
            hostnames: vec![host(s)],
            rules: vec![GrpcRouteRule {
                backend_refs: vec![BackendRef {
                    group: None,
                    kind: None,
                    name: s.name.clone(),
                    namespace: None,
                    port: Some(port),
                    weight: None,
                }],
            }],
        },
        None => GrpcRouteSpec::default(),
    };
    Some(GrpcRoute {
        api_version: "gateway.networking.k8s.io/v1",
        kind: "GRPCRoute",
        metadata: object_meta(
            &s.name,
            &s.namespace,
            s.labels.clone(),
            router_annotations(s),
        ),
        spec,
    })
}
