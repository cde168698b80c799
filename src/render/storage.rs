//! PersistentVolumeClaims: the one a NIMService creates (`storage.pvc.create`) and the one a
//! NIMCache creates. Both carry the operator's short label set, not the standard labels.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::meta::{Map, managed_by, object_meta};
use crate::api;
use crate::facts::Facts;
use crate::model::{Service, Store};
use crate::quantity;

/// The PVC a NIMService creates, if it creates one.
pub fn service_pvc(s: &Service, facts: &Facts) -> Option<PersistentVolumeClaim> {
    let Store::Pvc {
        claim_name,
        create: true,
        ..
    } = &s.store
    else {
        return None;
    };
    let pvc = s.spec.storage.pvc.clone().unwrap_or_default();
    let labels = Map::from([
        ("app".into(), "k8s-nim-operator".into()),
        ("app.kubernetes.io/name".into(), s.name.clone()),
        managed_by(facts),
    ]);
    Some(claim(claim_name, &s.namespace, labels, &pvc))
}

/// A PVC from the shared `storage.pvc` settings.
pub fn claim(
    name: &str,
    namespace: &str,
    labels: Map,
    pvc: &api::PersistentVolumeClaimSpec,
) -> PersistentVolumeClaim {
    let size = quantity::canonical(pvc.size.as_deref().unwrap_or_default());
    PersistentVolumeClaim {
        metadata: object_meta(name, namespace, labels, pvc.annotations.clone()),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![pvc.volume_access_mode.clone().unwrap_or_default()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity(size))])),
                limits: None,
            }),
            storage_class_name: pvc.storage_class.clone().filter(|c| !c.is_empty()),
            ..Default::default()
        }),
        status: None,
    }
}
