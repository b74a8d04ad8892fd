//! Apply: puts rendered objects into the cluster with server-side apply
//! under one field manager, and prunes what an application no longer renders.
//!
//! Every object is applied with `force`, so a field someone changed by hand
//! is taken back on the next pass; fields others own and we never set are
//! left alone. Pruning deletes an object only when its `ownerReferences`
//! name the application's uid as controller: an object we did not create is
//! never deleted, whatever the inventory says.
//!
//! Kinds are looked up through discovery once and cached, so the plural and
//! scope of a kind come from the API server, not from guesses.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use kube::{Client, ResourceExt};
use serde_json::Value;

use crate::api::{TypedReference, split_api_version};

/// The field manager of every write the host makes.
pub const FIELD_MANAGER: &str = "oam-wasm";

/// Why an object could not be applied or pruned.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The API server does not serve this kind.
    #[error("{api_version}/{kind} is not served by the API server: {reason}")]
    UnknownKind {
        api_version: String,
        kind: String,
        reason: String,
        /// Discovery answered that the kind is not served (rather than
        /// failing to answer): no object of it can exist.
        not_served: bool,
    },
    /// Rendered objects are namespaced; this kind is cluster-scoped.
    #[error("{api_version}/{kind} {name} is cluster-scoped; only namespaced objects are applied")]
    ClusterScoped {
        api_version: String,
        kind: String,
        name: String,
    },
    /// A rendered object without apiVersion, kind or name.
    #[error("a rendered object has no {0}")]
    Malformed(&'static str),
    /// The API server refused or failed a request.
    #[error("{verb} {object}: {source}")]
    Api {
        verb: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },
}

impl ApplyError {
    /// Whether trying again soon may succeed (conflicts, throttling, server
    /// errors, connection trouble) rather than needing a change of input.
    pub fn is_transient(&self) -> bool {
        match self {
            ApplyError::Api { source, .. } => is_transient(source),
            ApplyError::UnknownKind { .. } => true,
            ApplyError::ClusterScoped { .. } | ApplyError::Malformed(_) => false,
        }
    }
}

/// Whether a client error is worth a quick retry.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => {
            let code = status.code;
            code == 409 || code == 429 || code >= 500
        }
        _ => true,
    }
}

/// An object as the API server stored it after an apply.
#[derive(Debug, Clone)]
pub struct Applied {
    pub reference: TypedReference,
    pub object: Value,
}

/// What discovery found for an (apiVersion, kind).
type KindCache = HashMap<(String, String), (ApiResource, ApiCapabilities)>;

/// Applies objects and prunes them, with a discovery cache.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    kinds: Arc<RwLock<KindCache>>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier").finish_non_exhaustive()
    }
}

impl Applier {
    pub fn new(client: Client) -> Applier {
        Applier {
            client,
            kinds: Arc::default(),
        }
    }

    /// The API resource serving `apiVersion`/`kind`, from discovery.
    pub async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self
            .kinds
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let (group, version) = split_api_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| ApplyError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                reason: e.to_string(),
                not_served: matches!(&e, kube::Error::Discovery(_))
                    || matches!(&e, kube::Error::Api(s) if s.code == 404),
            })?;
        self.kinds
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }

    async fn api_for(
        &self,
        namespace: &str,
        api_version: &str,
        kind: &str,
        name: &str,
    ) -> Result<Api<DynamicObject>, ApplyError> {
        let (resource, caps) = self.resource(api_version, kind).await?;
        if caps.scope == Scope::Cluster {
            return Err(ApplyError::ClusterScoped {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                name: name.to_string(),
            });
        }
        Ok(Api::namespaced_with(
            self.client.clone(),
            namespace,
            &resource,
        ))
    }

    /// Server-side apply `object` into `namespace` (force, one field manager).
    pub async fn apply(&self, namespace: &str, object: &Value) -> Result<Applied, ApplyError> {
        let field = |name: &'static str, pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .ok_or(ApplyError::Malformed(name))
        };
        let api_version = field("apiVersion", "/apiVersion")?;
        let kind = field("kind", "/kind")?;
        let name = field("metadata.name", "/metadata/name")?;
        let api = self.api_for(namespace, api_version, kind, name).await?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let stored = api
            .patch(name, &params, &Patch::Apply(object))
            .await
            .map_err(|source| ApplyError::Api {
                verb: "apply",
                object: format!("{kind} {namespace}/{name}"),
                source,
            })?;
        let reference = TypedReference {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            uid: stored.uid(),
        };
        let object = serde_json::to_value(&stored).unwrap_or(Value::Null);
        Ok(Applied { reference, object })
    }

    /// Delete the object `reference` names if, and only if, it is controlled
    /// by the owner with `owner_uid`. Returns whether something was deleted.
    pub async fn prune(
        &self,
        namespace: &str,
        reference: &TypedReference,
        owner_uid: &str,
    ) -> Result<bool, ApplyError> {
        let api = match self
            .api_for(
                namespace,
                &reference.api_version,
                &reference.kind,
                &reference.name,
            )
            .await
        {
            // The inventory may list what was about to be created and never
            // was (see `controller::inventory`): an object of a kind the
            // server does not serve, or of a cluster-scoped kind (never
            // applied), does not exist.
            Err(ApplyError::UnknownKind {
                not_served: true, ..
            })
            | Err(ApplyError::ClusterScoped { .. }) => return Ok(false),
            other => other?,
        };
        let object = format!("{} {namespace}/{}", reference.kind, reference.name);
        let current = api
            .get_opt(&reference.name)
            .await
            .map_err(|source| ApplyError::Api {
                verb: "get",
                object: object.clone(),
                source,
            })?;
        let Some(current) = current else {
            return Ok(false);
        };
        let ours = current
            .owner_references()
            .iter()
            .any(|o| o.uid == owner_uid && o.controller == Some(true));
        if !ours || current.metadata.deletion_timestamp.is_some() {
            return Ok(false);
        }
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: Some(kube::api::Preconditions {
                uid: current.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&reference.name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(source) => Err(ApplyError::Api {
                verb: "delete",
                object,
                source,
            }),
        }
    }
}

impl Applier {
    /// The object `reference` names in `namespace`, if it exists.
    pub async fn get(
        &self,
        namespace: &str,
        reference: &TypedReference,
    ) -> Result<Option<DynamicObject>, ApplyError> {
        let api = self
            .api_for(
                namespace,
                &reference.api_version,
                &reference.kind,
                &reference.name,
            )
            .await?;
        api.get_opt(&reference.name)
            .await
            .map_err(|source| ApplyError::Api {
                verb: "get",
                object: format!("{} {namespace}/{}", reference.kind, reference.name),
                source,
            })
    }
}

/// Whether two references name the same object (uids aside).
pub fn same_object(a: &TypedReference, b: &TypedReference) -> bool {
    a.api_version == b.api_version && a.kind == b.kind && a.name == b.name
}
