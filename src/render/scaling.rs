//! Autoscaling and metrics: the HorizontalPodAutoscaler (`spec.scale`) and the Prometheus
//! ServiceMonitor (`spec.metrics`).

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::crd::{Endpoint, LabelSelector, NamespaceSelector, ServiceMonitor, ServiceMonitorSpec};
use super::meta::{merge_maps, object_meta};
use super::network::metrics_port;
use crate::model::Service;
use crate::quantity;

pub fn hpa(s: &Service) -> Option<HorizontalPodAutoscaler> {
    if s.spec.scale.enabled != Some(true) {
        return None;
    }
    let h = s.spec.scale.hpa.clone().unwrap_or_default();
    let mut metrics: Vec<MetricSpec> = h.metrics.iter().map(canonical_metric).collect();
    // Upstream sorts by type; for short lists Go's sort keeps ties in input order.
    metrics.sort_by(|a, b| a.type_.cmp(&b.type_));
    Some(HorizontalPodAutoscaler {
        metadata: object_meta(
            &s.name,
            &s.namespace,
            s.labels.clone(),
            merge_maps(&s.annotations.clone(), &s.spec.scale.annotations),
        ),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: s.name.clone(),
            },
            min_replicas: h.min_replicas,
            max_replicas: h.max_replicas,
            metrics: (!metrics.is_empty()).then_some(metrics),
            behavior: h.behavior.clone().map(canonical_behavior),
        }),
        status: None,
    })
}

fn canonical_metric(m: &MetricSpec) -> MetricSpec {
    let mut m = m.clone();
    let targets = [
        m.object.as_mut().map(|x| &mut x.target),
        m.pods.as_mut().map(|x| &mut x.target),
        m.resource.as_mut().map(|x| &mut x.target),
        m.container_resource.as_mut().map(|x| &mut x.target),
        m.external.as_mut().map(|x| &mut x.target),
    ];
    for t in targets.into_iter().flatten() {
        canonical_target(t);
    }
    m
}

/// Scaling-rule tolerances are quantities too.
fn canonical_behavior(mut b: HorizontalPodAutoscalerBehavior) -> HorizontalPodAutoscalerBehavior {
    for rules in [&mut b.scale_up, &mut b.scale_down].into_iter().flatten() {
        if let Some(t) = rules.tolerance.as_mut() {
            *t = Quantity(quantity::canonical(&t.0));
        }
    }
    b
}

fn canonical_target(t: &mut MetricTarget) {
    for q in [&mut t.value, &mut t.average_value].into_iter().flatten() {
        *q = Quantity(quantity::canonical(&q.0));
    }
}

pub fn service_monitor(s: &Service) -> Option<ServiceMonitor> {
    if s.spec.metrics.enabled != Some(true) {
        return None;
    }
    let sm = s.spec.metrics.service_monitor.clone().unwrap_or_default();
    let selector = s.labels.clone();
    let mut labels = selector.clone();
    labels.extend(sm.additional_labels.clone());
    let endpoint = |path: &str, port: &str| Endpoint {
        path: path.into(),
        port: port.into(),
        interval: sm.interval.clone().filter(|x| !x.is_empty()),
        scrape_timeout: sm.scrape_timeout.clone().filter(|x| !x.is_empty()),
    };
    let mut endpoints = vec![endpoint("/v1/metrics", "api")];
    if metrics_port(s).is_some() {
        endpoints.push(endpoint("/metrics", "metrics"));
    }
    Some(ServiceMonitor {
        api_version: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: object_meta(
            &s.name,
            &s.namespace,
            labels,
            merge_maps(&s.annotations.clone(), &sm.annotations),
        ),
        spec: ServiceMonitorSpec {
            endpoints,
            namespace_selector: NamespaceSelector {
                match_names: vec![s.namespace.clone()],
            },
            selector: LabelSelector {
                match_labels: selector,
            },
        },
    })
}
