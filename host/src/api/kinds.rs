//! What render needs to know about a kind without asking a cluster: its plural (which
//! OAM uses to name Definitions, `<plural>.<group>`) and whether it is namespaced.
//!
//! [`KindTable::builtin`] knows the core Kubernetes kinds an OAM app commonly makes and
//! the eight OAM kinds; CRDs given as input teach it more ([`KindTable::add_crd`]);
//! anything else falls back to [`guess_plural`].

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;

use super::API_VERSION;

/// One kind at one version, with its REST name.
#[derive(Serialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct KindInfo {
    /// `group/version`, or `version` for the core group, e.g. `apps/v1`, `v1`.
    pub api_version: String,
    /// CamelCase kind, e.g. `Deployment`.
    pub kind: String,
    /// Lowercase plural, e.g. `deployments`.
    pub plural: String,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

/// A CRD object that is not a readable CustomResourceDefinition.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// The object is not an `apiextensions.k8s.io` CustomResourceDefinition at all.
    #[error("object is not a CustomResourceDefinition (apiVersion {api_version:?}, kind {kind:?})")]
    NotACrd {
        /// `apiVersion` of the object.
        api_version: String,
        /// `kind` of the object.
        kind: String,
    },
    /// A field the kind information is read from is missing or not a string.
    #[error("CustomResourceDefinition {name:?}: {field} is missing or not a string")]
    MissingField {
        /// `metadata.name` of the CRD.
        name: String,
        /// Path of the field, e.g. `spec.names.plural`.
        field: &'static str,
    },
}

impl KindInfo {
    /// A kind from its parts.
    pub fn new(
        api_version: impl Into<String>,
        kind: impl Into<String>,
        plural: impl Into<String>,
        namespaced: bool,
    ) -> Self {
        Self {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
        }
    }

    /// The API group, `""` for the core group.
    pub fn group(&self) -> &str {
        split_api_version(&self.api_version).0
    }

    /// The version, e.g. `v1`.
    pub fn version(&self) -> &str {
        split_api_version(&self.api_version).1
    }

    /// The name OAM gives a Definition of this kind: `<plural>.<group>`, or `<plural>`
    /// for the core group (e.g. `deployments.apps`, `services`).
    pub fn definition_name(&self) -> String {
        definition_name(self.group(), &self.plural)
    }

    /// One entry per served version of a CRD, the storage version first.
    pub fn from_crd(crd: &CustomResourceDefinition) -> Vec<KindInfo> {
        let spec = &crd.spec;
        let namespaced = spec.scope == "Namespaced";
        let mut versions: Vec<_> = spec.versions.iter().filter(|v| v.served).collect();
        versions.sort_by_key(|v| !v.storage);
        versions
            .into_iter()
            .map(|v| {
                KindInfo::new(
                    join_api_version(&spec.group, &v.name),
                    spec.names.kind.clone(),
                    spec.names.plural.clone(),
                    namespaced,
                )
            })
            .collect()
    }

    /// Like [`KindInfo::from_crd`], for a CRD read as plain JSON, which may also be an
    /// `apiextensions.k8s.io/v1beta1` CRD (its `spec.version` and `spec.versions`).
    pub fn from_crd_value(crd: &serde_json::Value) -> Result<Vec<KindInfo>, KindError> {
        let str_at = |pointer: &str| crd.pointer(pointer).and_then(|v| v.as_str());
        let api_version = str_at("/apiVersion").unwrap_or_default();
        let kind = str_at("/kind").unwrap_or_default();
        if kind != "CustomResourceDefinition" || !api_version.starts_with("apiextensions.k8s.io/") {
            return Err(KindError::NotACrd {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let name = str_at("/metadata/name").unwrap_or_default().to_owned();
        let required = |pointer: &str, field: &'static str| {
            str_at(pointer).ok_or_else(|| KindError::MissingField {
                name: name.clone(),
                field,
            })
        };
        let group = required("/spec/group", "spec.group")?;
        let kind = required("/spec/names/kind", "spec.names.kind")?;
        let plural = required("/spec/names/plural", "spec.names.plural")?;
        // `scope` defaults to Namespaced in v1beta1; v1 requires it.
        let namespaced = str_at("/spec/scope").is_none_or(|s| s == "Namespaced");

        let mut versions: Vec<(String, bool)> = crd
            .pointer("/spec/versions")
            .and_then(|v| v.as_array())
            .map(|vs| {
                vs.iter()
                    .filter(|v| v.get("served").and_then(|s| s.as_bool()).unwrap_or(true))
                    .filter_map(|v| {
                        let name = v.get("name")?.as_str()?.to_owned();
                        let storage = v.get("storage").and_then(|s| s.as_bool()).unwrap_or(false);
                        Some((name, storage))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if versions.is_empty() {
            versions.push((required("/spec/version", "spec.versions")?.to_owned(), true));
        }
        versions.sort_by_key(|(_, storage)| !storage);
        Ok(versions
            .into_iter()
            .map(|(version, _)| {
                KindInfo::new(join_api_version(group, &version), kind, plural, namespaced)
            })
            .collect())
    }
}

/// Splits `group/version` into `(group, version)`; `v1` is `("", "v1")`.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

fn definition_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

/// Splits an OAM definition name into `(group, plural)`:
/// `containerizedworkloads.core.oam.dev` → `("core.oam.dev", "containerizedworkloads")`,
/// `deployments.apps` → `("apps", "deployments")`, `services` → `("", "services")`.
pub fn split_definition_name(name: &str) -> (&str, &str) {
    match name.split_once('.') {
        Some((plural, group)) => (group, plural),
        None => ("", name),
    }
}

/// Guesses the plural of a kind the way CRD tooling does: lowercase, then `y` after a
/// consonant → `ies`, `s`/`x`/`z`/`ch`/`sh` → `es`, otherwise `s`
/// (`ManualScalerTrait` → `manualscalertraits`, `NetworkPolicy` → `networkpolicies`,
/// `Ingress` → `ingresses`, `Gateway` → `gateways`).
///
/// Only a fallback: a CRD may name its plural anything (`foo.example.com` has plural
/// `foo`), so prefer [`KindTable`] with the CRDs at hand.
pub fn guess_plural(kind: &str) -> String {
    let word = kind.to_ascii_lowercase();
    if word.is_empty() || word.ends_with("endpoints") {
        return word;
    }
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|s| word.ends_with(s))
    {
        return format!("{word}es");
    }
    if let Some(stem) = word.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    format!("{word}s")
}

/// Core Kubernetes kinds: `(apiVersion, kind, plural, namespaced)`.
const CORE_KINDS: &[(&str, &str, &str, bool)] = &[
    ("v1", "ConfigMap", "configmaps", true),
    ("v1", "Secret", "secrets", true),
    ("v1", "Service", "services", true),
    ("v1", "ServiceAccount", "serviceaccounts", true),
    (
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
    ),
    ("v1", "Pod", "pods", true),
    ("v1", "Endpoints", "endpoints", true),
    ("v1", "Namespace", "namespaces", false),
    ("v1", "PersistentVolume", "persistentvolumes", false),
    ("apps/v1", "Deployment", "deployments", true),
    ("apps/v1", "StatefulSet", "statefulsets", true),
    ("apps/v1", "DaemonSet", "daemonsets", true),
    ("apps/v1", "ReplicaSet", "replicasets", true),
    ("batch/v1", "Job", "jobs", true),
    ("batch/v1", "CronJob", "cronjobs", true),
    ("networking.k8s.io/v1", "Ingress", "ingresses", true),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("extensions/v1beta1", "Ingress", "ingresses", true),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
];

/// The eight OAM kinds, as their CRDs declare them (a unit test keeps this in step with
/// [`super::crds`], which is too slow to call per render: it builds every schema).
const OAM_KINDS: &[(&str, &str, &str, bool)] = &[
    (
        API_VERSION,
        "ApplicationConfiguration",
        "applicationconfigurations",
        true,
    ),
    (API_VERSION, "Component", "components", true),
    (
        API_VERSION,
        "ContainerizedWorkload",
        "containerizedworkloads",
        true,
    ),
    (API_VERSION, "HealthScope", "healthscopes", true),
    (API_VERSION, "ManualScalerTrait", "manualscalertraits", true),
    (API_VERSION, "ScopeDefinition", "scopedefinitions", false),
    (API_VERSION, "TraitDefinition", "traitdefinitions", false),
    (
        API_VERSION,
        "WorkloadDefinition",
        "workloaddefinitions",
        false,
    ),
];

/// Kinds by `(apiVersion, kind)` and by definition name (`<plural>.<group>`).
///
/// When several versions of one kind are known, a lookup by definition name returns
/// the one inserted first (for a CRD: its storage version).
#[derive(Clone, Debug, Default)]
pub struct KindTable {
    by_kind: BTreeMap<(String, String), KindInfo>,
    by_definition_name: BTreeMap<String, KindInfo>,
}

impl KindTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The core Kubernetes kinds an OAM app commonly makes, and the eight OAM kinds.
    pub fn builtin() -> Self {
        let mut table = Self::new();
        for (api_version, kind, plural, namespaced) in CORE_KINDS {
            table.insert(KindInfo::new(*api_version, *kind, *plural, *namespaced));
        }
        for (api_version, kind, plural, namespaced) in OAM_KINDS {
            table.insert(KindInfo::new(*api_version, *kind, *plural, *namespaced));
        }
        table
    }

    /// Adds a kind. A later insert of the same `(apiVersion, kind)` replaces the
    /// earlier; the definition name keeps pointing at the first version inserted unless
    /// that very version is replaced.
    pub fn insert(&mut self, info: KindInfo) {
        let name = info.definition_name();
        let keep_first = self
            .by_definition_name
            .get(&name)
            .is_some_and(|existing| existing.api_version != info.api_version);
        if !keep_first {
            self.by_definition_name.insert(name, info.clone());
        }
        self.by_kind
            .insert((info.api_version.clone(), info.kind.clone()), info);
    }

    /// Adds every served version of a CRD.
    pub fn add_crd(&mut self, crd: &CustomResourceDefinition) {
        for info in KindInfo::from_crd(crd) {
            self.insert(info);
        }
    }

    /// The kind at `apiVersion`, if known.
    pub fn get(&self, api_version: &str, kind: &str) -> Option<&KindInfo> {
        self.by_kind.get(&(api_version.to_owned(), kind.to_owned()))
    }

    /// The kind an OAM definition name (`<plural>.<group>` or `<plural>`) refers to, if
    /// known.
    pub fn by_definition_name(&self, name: &str) -> Option<&KindInfo> {
        self.by_definition_name.get(name)
    }

    /// The kind at `apiVersion`, or a guess: [`guess_plural`] and namespaced (what an
    /// unknown custom resource most likely is).
    pub fn get_or_guess(&self, api_version: &str, kind: &str) -> KindInfo {
        self.get(api_version, kind)
            .cloned()
            .unwrap_or_else(|| KindInfo::new(api_version, kind, guess_plural(kind), true))
    }

    /// The OAM definition name for objects of `kind` at `apiVersion`, e.g.
    /// `apps/v1` + `Deployment` → `deployments.apps`; unknown kinds use
    /// [`guess_plural`].
    pub fn definition_name_for(&self, api_version: &str, kind: &str) -> String {
        self.get_or_guess(api_version, kind).definition_name()
    }

    /// Every known kind, ordered by `(apiVersion, kind)`.
    pub fn iter(&self) -> impl Iterator<Item = &KindInfo> {
        self.by_kind.values()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn guesses_plurals() {
        for (kind, plural) in [
            ("ManualScalerTrait", "manualscalertraits"),
            ("NetworkPolicy", "networkpolicies"),
            ("Ingress", "ingresses"),
            ("Box", "boxes"),
            ("Batch", "batches"),
            ("Mesh", "meshes"),
            ("Gateway", "gateways"),
            ("Endpoints", "endpoints"),
            ("HealthScope", "healthscopes"),
        ] {
            assert_eq!(guess_plural(kind), plural, "{kind}");
        }
    }

    #[test]
    fn splits_definition_names() {
        assert_eq!(
            split_definition_name("containerizedworkloads.core.oam.dev"),
            ("core.oam.dev", "containerizedworkloads")
        );
        assert_eq!(
            split_definition_name("deployments.apps"),
            ("apps", "deployments")
        );
        assert_eq!(split_definition_name("services"), ("", "services"));
    }

    #[test]
    fn builtin_table_knows_core_and_oam_kinds() {
        let t = KindTable::builtin();
        let d = t.by_definition_name("deployments.apps").unwrap();
        assert_eq!(
            (d.api_version.as_str(), d.kind.as_str()),
            ("apps/v1", "Deployment")
        );
        assert!(t.get("v1", "Service").unwrap().namespaced);
        assert_eq!(t.by_definition_name("services").unwrap().kind, "Service");
        assert!(
            !t.get("rbac.authorization.k8s.io/v1", "ClusterRole")
                .unwrap()
                .namespaced
        );

        let w = t
            .by_definition_name("workloaddefinitions.core.oam.dev")
            .unwrap();
        assert_eq!(w.kind, "WorkloadDefinition");
        assert!(!w.namespaced);
        let m = t.get("core.oam.dev/v1alpha2", "ManualScalerTrait").unwrap();
        assert_eq!(m.plural, "manualscalertraits");
        assert!(m.namespaced);
        assert_eq!(
            t.definition_name_for("core.oam.dev/v1alpha2", "ContainerizedWorkload"),
            "containerizedworkloads.core.oam.dev"
        );
        assert_eq!(
            t.definition_name_for("example.com/v1", "Bar"),
            "bars.example.com"
        );
        let hpa = t
            .by_definition_name("horizontalpodautoscalers.autoscaling")
            .unwrap();
        assert_eq!(
            hpa.api_version, "autoscaling/v2",
            "first inserted version wins"
        );
    }

    #[test]
    fn oam_kind_table_matches_the_crds() {
        let from_crds: Vec<KindInfo> = crate::api::crds()
            .iter()
            .flat_map(KindInfo::from_crd)
            .collect();
        let table: Vec<KindInfo> = OAM_KINDS
            .iter()
            .map(|(a, k, p, n)| KindInfo::new(*a, *k, *p, *n))
            .collect();
        assert_eq!(table, from_crds);
    }

    #[test]
    fn reads_v1beta1_crds() {
        let crd = serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1beta1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "foo.example.com"},
            "spec": {"group": "example.com", "version": "v1",
                     "names": {"kind": "Foo", "plural": "foo"}, "scope": "Namespaced"}
        });
        let infos = KindInfo::from_crd_value(&crd).unwrap();
        assert_eq!(
            infos,
            vec![KindInfo::new("example.com/v1", "Foo", "foo", true)]
        );
        assert_eq!(infos[0].definition_name(), "foo.example.com");
        assert!(KindInfo::from_crd_value(&serde_json::json!({"kind": "ConfigMap"})).is_err());
    }
}
