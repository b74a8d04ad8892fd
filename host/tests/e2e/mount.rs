//! The built-in `mount` trait end to end, over `examples/mount`: ConfigMaps
//! and Secrets reach the pods' spec as files and as environment variables,
//! and taking the trait off takes them out again.

use serde_json::{Value, json};

use crate::env::Env;
use crate::{remove_trait, wait_synced};

const COMPONENTS: &str = include_str!("../../../examples/mount/component.yaml");
const APP: &str = include_str!("../../../examples/mount/appconfig.yaml");

fn pod(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmaps_and_secrets_are_mounted_as_files_and_as_env() {
    let env = Env::start().await;
    env.apply(COMPONENTS).await;
    env.apply(APP).await;
    wait_synced(&env, "mount-example", "True").await;

    // As files, in the Deployment the ContainerizedWorkload renders.
    let api = env.get("apps/v1", "Deployment", "api").await.unwrap();
    let volume = |name: &str| {
        pod(&api)["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no volume {name} in {api}"))
    };
    assert_eq!(volume("cm-api-config")["configMap"]["name"], "api-config");
    assert_eq!(
        volume("cm-api-config")["configMap"]["items"],
        json!([{"key": "config.yaml", "path": "config.yaml"}])
    );
    assert_eq!(volume("secret-api-tls")["secret"]["secretName"], "api-tls");
    assert_eq!(volume("secret-api-tls")["secret"]["defaultMode"], 256);
    let mounts = pod(&api)["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap();
    for (name, path) in [
        ("cm-api-config", "/etc/api"),
        ("secret-api-tls", "/etc/api/tls"),
    ] {
        assert!(
            mounts
                .iter()
                .any(|m| m["name"] == name && m["mountPath"] == path && m["readOnly"] == true),
            "{mounts:?}"
        );
    }

    // As environment, in the plain Deployment (at its podSpecPath).
    let worker = env.get("apps/v1", "Deployment", "worker").await.unwrap();
    let containers = pod(&worker)["containers"].as_array().unwrap();
    assert_eq!(
        containers[0]["envFrom"],
        json!([{"configMapRef": {"name": "worker-settings"}},
               {"secretRef": {"name": "db-credentials"}, "prefix": "DB_"}])
    );
    assert_eq!(
        containers[1]["envFrom"],
        json!([{"configMapRef": {"name": "worker-settings"}}])
    );

    // Without the trait, the mounts are gone.
    env.apply(&remove_trait(APP, "MountTrait")).await;
    env.wait_for("Deployment worker without envFrom", || async {
        env.get("apps/v1", "Deployment", "worker")
            .await
            .filter(|d| pod(d)["containers"][0].get("envFrom").is_none())
    })
    .await;
    env.wait_for("Deployment api without the mounted volumes", || async {
        env.get("apps/v1", "Deployment", "api").await.filter(|d| {
            pod(d)["volumes"].as_array().is_none_or(|v| v.is_empty())
                && pod(d)["containers"][0]["volumeMounts"]
                    .as_array()
                    .is_none_or(|m| m.is_empty())
        })
    })
    .await;
    env.assert_host_alive();
}
