//! `deploy/`: every manifest `kubectl apply -k deploy/` installs is valid
//! against the Kubernetes OpenAPI schemas, runs locked down, and grants the
//! controller exactly the API access its code uses.
//!
//! Why k8s-openapi rather than a schema validator from PyPI or npm
//! (kubeconform, kubeval...): k8s-openapi is generated from the same
//! Kubernetes OpenAPI spec, is already in the tree (the host uses it), needs
//! no network or extra toolchain in CI, and works offline. Its types drop
//! fields they do not know, so each document is deserialized into its strict
//! type *and* serialized back: the two JSON values must be equal, which
//! catches a misspelled or misplaced field as well as a wrong type. The typed
//! values then make the policy checks (security context, RBAC) plain Rust.
//!
//! What is read is what `kubectl kustomize deploy/` prints: the test insists
//! the kustomization uses plain `resources` only, reads those files, and,
//! when `kubectl` is on PATH, checks that kustomize prints the same objects.
//! The OAM Definitions in it (`definitions.yaml`) have no OpenAPI type; they
//! are read with the host's own types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::repo;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use oam_wasm::api::{KindTable, ScopeDefinition, TraitDefinition, WorkloadDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const NAMESPACE: &str = "oam-system";
const SERVICE_ACCOUNT: &str = "oam-wasm";

/// Verbs on a kind the controller applies and prunes (apply.rs): server-side
/// apply is a PATCH that may create; prune GETs then DELETEs.
const WRITE: &[&str] = &["get", "create", "patch", "delete"];
/// ... and also watches by label (controller/mod.rs `OWNED_KINDS`).
const OWNED: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];
/// A reflector watch: list, then watch.
const WATCH: &[&str] = &["list", "watch"];

/// One kind of call: (namespace, or `None` for cluster-wide; API group;
/// resource; verbs; where in the code).
type Need = (
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

/// Everything the controller calls. The ClusterRole and Role must grant
/// exactly this: nothing missing, nothing more.
#[rustfmt::skip]
const NEEDS: &[Need] = &[
    (None, "core.oam.dev", "applicationconfigurations", WATCH, "the Controller's watch"),
    (None, "core.oam.dev", "components", WATCH, "input watch"),
    (None, "core.oam.dev", "workloaddefinitions", WATCH, "input watch"),
    (None, "core.oam.dev", "traitdefinitions", WATCH, "input watch"),
    (None, "core.oam.dev", "scopedefinitions", WATCH, "input watch"),
    (None, "core.oam.dev", "applicationconfigurations/status", &["patch"], "write_status"),
    (None, "core.oam.dev", "workloaddefinitions/status", &["patch"], "write_definition_status"),
    (None, "core.oam.dev", "traitdefinitions/status", &["patch"], "write_definition_status"),
    (None, "core.oam.dev", "applicationconfigurations/finalizers", &["update"],
        "rendered ownerReferences set blockOwnerDeletion"),
    (None, "core.oam.dev", "applicationconfigurations", &["get", "patch"],
        "scope finalizer (controller/scopes.rs set_finalizer)"),
    (None, "core.oam.dev", "healthscopes", &["get", "patch"],
        "workload references in scopes (controller/scopes.rs update_scope)"),
    (None, "core.oam.dev", "healthscopes", WATCH, "the HealthScope controller's watch"),
    (None, "core.oam.dev", "healthscopes/status", &["patch"], "HealthScope status"),
    (None, "apps", "controllerrevisions", &["get", "list", "watch", "create", "delete"],
        "component revisions (controller/revisions.rs)"),
    (None, "core.oam.dev", "components/status", &["patch"], "status.latestRevision"),
    (None, "apiextensions.k8s.io", "customresourcedefinitions", WATCH, "kind table"),
    (None, "events.k8s.io", "events", &["create", "patch"], "Recorder::publish"),
    (None, "apps", "deployments", OWNED, "OWNED_KINDS, apply, prune"),
    (None, "", "services", OWNED, "OWNED_KINDS, apply, prune"),
    (None, "", "persistentvolumeclaims", OWNED, "OWNED_KINDS, apply, prune"),
    (None, "networking.k8s.io", "ingresses", OWNED, "OWNED_KINDS, apply, prune"),
    (None, "autoscaling", "horizontalpodautoscalers", OWNED, "OWNED_KINDS, apply, prune"),
    (None, "apps", "statefulsets", WRITE, "statefulsets.apps workload: apply, prune"),
    (None, "", "configmaps", WRITE, "containerized configFiles: apply, prune"),
    (Some(NAMESPACE), "", "configmaps", WATCH, "plugin ConfigMaps (--plugin-namespace)"),
    (Some(NAMESPACE), "coordination.k8s.io", "leases", &["get", "create", "patch"],
        "leader election (run --leader-elect, kube-lease-manager)"),
];

/// One permission: (namespace or cluster-wide, group, resource, verb).
type Grant = (Option<String>, String, String, String);

/// The documents `kubectl kustomize deploy/` prints, with their file.
fn manifests() -> Vec<(String, Value)> {
    let deploy = repo("deploy");
    let kustomization = yaml_docs(&deploy.join("kustomization.yaml"));
    let [(_, kustomization)] = kustomization.as_slice() else {
        panic!("deploy/kustomization.yaml must hold one document");
    };
    let keys: BTreeSet<&str> = kustomization
        .as_object()
        .expect("kustomization is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let plain: BTreeSet<&str> = ["apiVersion", "kind", "resources"].into();
    assert!(
        keys.is_subset(&plain),
        "deploy/kustomization.yaml uses {:?}: this test reads plain `resources` only \
         and would not see what kustomize makes of the rest; teach it first",
        keys.difference(&plain).collect::<Vec<_>>()
    );
    let mut docs = Vec::new();
    for resource in kustomization["resources"].as_array().expect("resources") {
        let file = resource.as_str().expect("a resource is a file name");
        docs.extend(yaml_docs(&deploy.join(file)));
    }
    docs
}

fn yaml_docs(path: &Path) -> Vec<(String, Value)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    serde_yaml_ng::Deserializer::from_str(&text)
        .enumerate()
        .map(|(i, doc)| {
            let value: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("deploy/{name} document {}: {e}", i + 1));
            (format!("deploy/{name} document {}", i + 1), value)
        })
        .filter(|(_, v)| !v.is_null())
        .collect()
}

/// Deserialize into the strict type and insist nothing was dropped.
fn strict<T: DeserializeOwned + Serialize>(source: &str, doc: &Value) -> T {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{source}: not a valid object of its kind: {e}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    if let Some(path) = first_difference(doc, &back, String::new()) {
        panic!(
            "{source}: `{path}` is not in the {} schema (misspelled or misplaced?)",
            std::any::type_name::<T>()
        );
    }
    typed
}

/// The first path where `written` has something `kept` does not.
fn first_difference(written: &Value, kept: &Value, path: String) -> Option<String> {
    match (written, kept) {
        (Value::Object(w), Value::Object(k)) => w.iter().find_map(|(key, wv)| match k.get(key) {
            None => Some(format!("{path}.{key}")),
            Some(kv) => first_difference(wv, kv, format!("{path}.{key}")),
        }),
        (Value::Array(w), Value::Array(k)) if w.len() == k.len() => w
            .iter()
            .zip(k)
            .enumerate()
            .find_map(|(i, (wv, kv))| first_difference(wv, kv, format!("{path}[{i}]"))),
        (w, k) if w == k => None,
        _ => Some(if path.is_empty() { ".".into() } else { path }),
    }
}

/// Every manifest, checked against its type.
#[derive(Default)]
struct Parsed {
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    deployments: Vec<(String, Deployment)>,
    workload_definitions: Vec<WorkloadDefinition>,
    trait_definitions: usize,
    scope_definitions: usize,
}

fn parse() -> Parsed {
    let mut parsed = Parsed::default();
    for (source, doc) in manifests() {
        let field = |f: &str| doc.get(f).and_then(Value::as_str).unwrap_or("");
        match (field("apiVersion"), field("kind")) {
            ("v1", "Namespace") => parsed.namespaces.push(strict(&source, &doc)),
            ("v1", "ServiceAccount") => parsed.service_accounts.push(strict(&source, &doc)),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                parsed.cluster_roles.push(strict(&source, &doc))
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                parsed.cluster_role_bindings.push(strict(&source, &doc))
            }
            ("rbac.authorization.k8s.io/v1", "Role") => parsed.roles.push(strict(&source, &doc)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                parsed.role_bindings.push(strict(&source, &doc))
            }
            ("apps/v1", "Deployment") => {
                let deployment = strict(&source, &doc);
                parsed.deployments.push((source, deployment));
            }
            // No OpenAPI type: the host's own (the CRDs in crds/ are made
            // from them), as the controller reads them.
            ("core.oam.dev/v1alpha2", "WorkloadDefinition") => {
                let def =
                    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{source}: {e}"));
                parsed.workload_definitions.push(def);
            }
            ("core.oam.dev/v1alpha2", "TraitDefinition") => {
                serde_json::from_value::<TraitDefinition>(doc.clone())
                    .unwrap_or_else(|e| panic!("{source}: {e}"));
                parsed.trait_definitions += 1;
            }
            ("core.oam.dev/v1alpha2", "ScopeDefinition") => {
                serde_json::from_value::<ScopeDefinition>(doc.clone())
                    .unwrap_or_else(|e| panic!("{source}: {e}"));
                parsed.scope_definitions += 1;
            }
            (api_version, kind) => panic!(
                "{source}: {api_version}/{kind} has no schema in this test; add its \
                 k8s-openapi type to `parse`"
            ),
        }
    }
    parsed
}

#[test]
fn kustomize_prints_the_files() {
    let kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    if !kubectl.is_ok_and(|o| o.status.success()) {
        eprintln!("kubectl is not installed: not comparing with `kubectl kustomize deploy/`");
        return;
    }
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(repo("deploy"))
        .output()
        .expect("kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/ failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Vec<Value> =
        serde_yaml_ng::Deserializer::from_str(&String::from_utf8(out.stdout).unwrap())
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect();
    let sorted = |docs: Vec<Value>| {
        let mut texts: Vec<String> = docs.iter().map(Value::to_string).collect();
        texts.sort();
        texts
    };
    assert_eq!(
        sorted(printed),
        sorted(manifests().into_iter().map(|(_, v)| v).collect()),
        "`kubectl kustomize deploy/` prints other objects than the files hold"
    );
}

#[test]
fn manifests_match_the_kubernetes_schemas() {
    let parsed = parse();
    assert!(
        parsed
            .namespaces
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some(NAMESPACE)),
        "no Namespace {NAMESPACE}"
    );
    assert!(
        parsed.service_accounts.iter().any(|s| {
            s.metadata.name.as_deref() == Some(SERVICE_ACCOUNT)
                && s.metadata.namespace.as_deref() == Some(NAMESPACE)
        }),
        "no ServiceAccount {NAMESPACE}/{SERVICE_ACCOUNT}"
    );
    // The built-in Definitions are installed, so users see them.
    assert!(
        !parsed.workload_definitions.is_empty()
            && parsed.trait_definitions > 0
            && parsed.scope_definitions > 0,
        "deploy/definitions.yaml is not in the kustomization"
    );
}

#[test]
fn deployment_runs_locked_down() {
    let parsed = parse();
    let [(source, deployment)] = parsed.deployments.as_slice() else {
        panic!(
            "expected one Deployment, found {}",
            parsed.deployments.len()
        );
    };
    let meta = &deployment.metadata;
    assert_eq!(meta.namespace.as_deref(), Some(NAMESPACE), "{source}");
    let spec = &deployment.spec;
    assert_eq!(spec.replicas, Some(2), "{source}: two replicas");
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(SERVICE_ACCOUNT),
        "{source}: runs as the ServiceAccount the RBAC binds"
    );
    assert_ne!(
        pod.automount_service_account_token,
        Some(false),
        "{source}: the controller needs its token"
    );
    assert_ne!(pod.host_network, Some(true), "{source}");
    let pod_security = pod.security_context.clone().unwrap_or_default();
    let [container] = pod.containers.as_slice() else {
        panic!("{source}: expected one container");
    };
    let name = &container.name;
    let security = container.security_context.clone().unwrap_or_default();
    assert!(
        security.run_as_non_root.or(pod_security.run_as_non_root) == Some(true),
        "{source}: {name} runAsNonRoot"
    );
    assert_ne!(security.run_as_user.or(pod_security.run_as_user), Some(0));
    assert_eq!(
        security.read_only_root_filesystem,
        Some(true),
        "{source}: {name} readOnlyRootFilesystem"
    );
    assert_eq!(
        security.allow_privilege_escalation,
        Some(false),
        "{source}: {name} allowPrivilegeEscalation"
    );
    assert_ne!(
        security.privileged,
        Some(true),
        "{source}: {name} privileged"
    );
    let capabilities = security.capabilities.clone().unwrap_or_default();
    assert_eq!(
        capabilities.drop,
        Some(vec!["ALL".to_string()]),
        "{source}: {name} drops ALL capabilities"
    );
    assert!(
        capabilities.add.unwrap_or_default().is_empty(),
        "{source}: {name} adds no capability"
    );
    let seccomp = security
        .seccomp_profile
        .or(pod_security.seccomp_profile)
        .map(|p| p.type_);
    assert_eq!(
        seccomp.as_deref(),
        Some("RuntimeDefault"),
        "{source}: seccompProfile"
    );

    let resources = container.resources.clone().unwrap_or_default();
    for (what, list) in [
        ("requests", resources.requests),
        ("limits", resources.limits),
    ] {
        let list = list.unwrap_or_default();
        for resource in ["cpu", "memory"] {
            assert!(
                list.contains_key(resource),
                "{source}: {name} has no {what}.{resource}"
            );
        }
    }

    assert_eq!(
        container.args.as_deref(),
        Some(
            &[
                "run",
                "--plugin-namespace",
                NAMESPACE,
                "--metrics-addr",
                "0.0.0.0:8080",
                "--leader-elect",
                "--plugin-cache-dir",
                "/var/cache/oam-wasm/plugins",
            ]
            .map(String::from)[..]
        ),
        "{source}: {name} args"
    );
    // The plugin cache is writable although the root filesystem is not: it
    // lives on an emptyDir mounted above the directory the host creates.
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| "/var/cache/oam-wasm/plugins".starts_with(&format!("{}/", m.mount_path)))
        .unwrap_or_else(|| panic!("{source}: {name} mounts nothing above its plugin cache"));
    assert_ne!(mount.read_only, Some(true), "{source}: plugin cache mount");
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap_or_else(|| panic!("{source}: no volume {}", mount.name));
    assert!(
        volume.empty_dir.is_some(),
        "{source}: the plugin cache is an emptyDir"
    );
    let pod_name = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "POD_NAME")
        .unwrap_or_else(|| panic!("{source}: {name} has no POD_NAME (Event reporting)"));
    let field = pod_name
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .map(|f| f.field_path.as_str());
    assert_eq!(
        field,
        Some("metadata.name"),
        "{source}: POD_NAME from the downward API"
    );

    // The probes hit what `run --metrics-addr` serves, on the port it
    // listens on.
    let port = container
        .ports
        .iter()
        .flatten()
        .find(|p| p.container_port == 8080)
        .unwrap_or_else(|| panic!("{source}: {name} exposes no port 8080"));
    for (probe, path) in [
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{source}: {name} needs an httpGet probe on {path}"));
        assert_eq!(
            get.path.as_deref(),
            Some(path),
            "{source}: {name} probe path"
        );
        let target = match &get.port {
            IntOrString::Int(n) => Some(*n == port.container_port),
            IntOrString::String(s) => Some(port.name.as_deref() == Some(s.as_str())),
        };
        assert_eq!(target, Some(true), "{source}: {name} probe {path} port");
    }
}

/// What the controller's ServiceAccount is granted, through every binding.
fn grants(parsed: &Parsed) -> BTreeSet<Grant> {
    let binds_us = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        subjects.iter().flatten().any(|s| {
            s.kind == "ServiceAccount"
                && s.name == SERVICE_ACCOUNT
                && s.namespace.as_deref() == Some(NAMESPACE)
        })
    };
    let cluster_role = |name: &str| -> Vec<PolicyRule> {
        let role = parsed
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("ClusterRole {name} is bound but not defined"));
        assert!(
            role.aggregation_rule.is_none(),
            "ClusterRole {name} aggregates"
        );
        role.rules.clone().unwrap_or_default()
    };
    let mut bound: Vec<(Option<String>, Vec<PolicyRule>)> = Vec::new();
    for binding in &parsed.cluster_role_bindings {
        if binds_us(&binding.subjects) {
            assert_eq!(binding.role_ref.kind, "ClusterRole");
            bound.push((None, cluster_role(&binding.role_ref.name)));
        }
    }
    for binding in &parsed.role_bindings {
        if binds_us(&binding.subjects) {
            let namespace = binding.metadata.namespace.clone().expect("namespace");
            let rules = match binding.role_ref.kind.as_str() {
                "ClusterRole" => cluster_role(&binding.role_ref.name),
                _ => parsed
                    .roles
                    .iter()
                    .find(|r| {
                        r.metadata.name.as_deref() == Some(binding.role_ref.name.as_str())
                            && r.metadata.namespace.as_deref() == Some(namespace.as_str())
                    })
                    .unwrap_or_else(|| {
                        panic!(
                            "Role {namespace}/{} is bound but not defined",
                            binding.role_ref.name
                        )
                    })
                    .rules
                    .clone()
                    .unwrap_or_default(),
            };
            bound.push((Some(namespace), rules));
        }
    }
    let mut grants = BTreeSet::new();
    for (scope, rules) in bound {
        for rule in rules {
            assert!(
                rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
                "rules of the controller name resources only: {rule:?}"
            );
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        assert!(
                            ![group, resource, verb].contains(&&"*".to_string()),
                            "no wildcards: {rule:?}"
                        );
                        grants.insert((
                            scope.clone(),
                            group.clone(),
                            resource.clone(),
                            verb.clone(),
                        ));
                    }
                }
            }
        }
    }
    grants
}

fn allowed(
    grants: &BTreeSet<Grant>,
    namespace: &str,
    group: &str,
    resource: &str,
    verb: &str,
) -> bool {
    [None, Some(namespace.to_string())]
        .into_iter()
        .any(|scope| {
            grants.contains(&(
                scope,
                group.to_string(),
                resource.to_string(),
                verb.to_string(),
            ))
        })
}

#[test]
fn rbac_grants_exactly_what_the_controller_calls() {
    let parsed = parse();
    let grants = grants(&parsed);
    let mut needed: BTreeSet<Grant> = BTreeSet::new();
    for (scope, group, resource, verbs, _) in NEEDS {
        for verb in *verbs {
            needed.insert((
                scope.map(String::from),
                group.to_string(),
                resource.to_string(),
                verb.to_string(),
            ));
        }
    }
    let missing: Vec<_> = needed.difference(&grants).collect();
    assert!(
        missing.is_empty(),
        "RBAC does not grant what the controller calls: {missing:?}"
    );
    let extra: Vec<_> = grants.difference(&needed).collect();
    assert!(
        extra.is_empty(),
        "RBAC grants more than the controller calls (least privilege; or add the call to NEEDS \
         with the code that makes it): {extra:?}"
    );
}

/// Cross-check `NEEDS` against what the renderer really produces: every kind
/// in the golden renders of the built-in plugins, the children the built-in
/// WorkloadDefinitions declare and the workloads applied as they are.
#[test]
fn rbac_covers_what_the_builtins_render() {
    let parsed = parse();
    let grants = grants(&parsed);
    let kinds = KindTable::builtin();
    let mut rendered: BTreeMap<(String, String), String> = BTreeMap::new();
    let golden = repo("tests/golden");
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        for (source, doc) in yaml_docs(&path) {
            let field = |f: &str| doc[f].as_str().unwrap_or_default().to_string();
            rendered.insert(
                (field("apiVersion"), field("kind")),
                format!("tests/golden: {source}"),
            );
        }
    }
    for def in &parsed.workload_definitions {
        let name = def.metadata.name.clone().unwrap_or_default();
        for child in def.spec.child_resource_kinds.iter().flatten() {
            rendered.insert(
                (child.api_version.clone(), child.kind.clone()),
                format!("childResourceKinds of {name}"),
            );
        }
    }
    let mut writable = 0;
    for ((api_version, kind), source) in &rendered {
        let info = kinds
            .get(api_version, kind)
            .unwrap_or_else(|| panic!("{api_version}/{kind} ({source}) is not in the kind table"));
        let (group, _) = oam_wasm::api::split_api_version(api_version);
        for verb in WRITE {
            assert!(
                allowed(&grants, "default", group, &info.plural, verb),
                "the controller cannot {verb} {api_version}/{kind}, which {source} renders"
            );
        }
        writable += 1;
    }
    // Workloads with a Definition but no plugin are applied as they are.
    for def in &parsed.workload_definitions {
        let name = def.metadata.name.clone().unwrap_or_default();
        let as_is = def.wasm_extension().ok().flatten().is_none();
        if as_is {
            let (plural, group) = name.split_once('.').unwrap_or((name.as_str(), ""));
            for verb in WRITE {
                assert!(
                    allowed(&grants, "default", group, plural, verb),
                    "the controller cannot {verb} {name}, applied as is by its WorkloadDefinition"
                );
            }
            writable += 1;
        }
    }
    assert!(
        writable >= 7,
        "only {writable} kinds checked: did the golden files move?"
    );
}
