//! `ingress`: the oam-dev catalog `IngressTrait` as a plugin.
//!
//! Outputs one `networking.k8s.io/v1` Ingress named after the trait (or the
//! workload when the trait has no name). Each path routes to
//! `backend.serviceName`, or else to the first `v1` Service the workload
//! type rendered, on `backend.servicePort` or else that Service's first
//! port. Paths match by `Prefix` unless `pathType` says otherwise.

// No std on wasm32: without it the component imports no WASI at all, which
// makes every call's fresh instance cheaper (see the SDK's `no_std_runtime!`).
#![cfg_attr(target_arch = "wasm32", no_std)]
extern crate alloc;

use oam_plugin_sdk::prelude::*;
use serde::Deserialize;

struct Ingress;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    rules: Vec<Rule>,
    tls: Option<Vec<Value>>,
    ingress_class_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Rule {
    host: Option<String>,
    paths: Vec<RulePath>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulePath {
    path: String,
    path_type: Option<String>,
    #[serde(default)]
    backend: Backend,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Backend {
    service_name: Option<String>,
    /// A port number or a port name.
    service_port: Option<Value>,
}

/// What the trait reads of a child's `spec`: a Service's ports (the rest is
/// skipped, not parsed: see [`Head`]).
#[derive(Debug, Deserialize)]
struct ChildSpec {
    ports: Option<Value>,
}

type Child = Head<ChildSpec>;

fn services(children: &[Child]) -> impl Iterator<Item = &Child> {
    children.iter().filter(|c| c.is("v1", "Service"))
}

fn first_port(service: &Child) -> Option<Value> {
    let ports = service.spec.as_ref()?.ports.as_ref()?;
    ports.get(0)?.get("port").filter(|p| p.is_u64()).cloned()
}

/// The `backend.service` of one path.
fn backend(children: &[Child], b: &Backend, at: &str) -> Result<Value, PluginError> {
    let (name, found) = match &b.service_name {
        Some(name) => (
            name.clone(),
            services(children).find(|s| s.name() == Some(name.as_str())),
        ),
        None => {
            let service = services(children).next().ok_or_else(|| {
                error("no serviceName given and the workload has no Service to route to")
                    .at(format!("{at}.backend.serviceName"))
            })?;
            let name = service.name().ok_or_else(|| {
                error("the workload's Service has no name").at(format!("{at}.backend.serviceName"))
            })?;
            (name.to_string(), Some(service))
        }
    };
    let port = match &b.service_port {
        Some(p) => p.clone(),
        None => found.and_then(first_port).ok_or_else(|| {
            error(format!(
                "no servicePort given and Service {name} has no port to take it from"
            ))
            .at(format!("{at}.backend.servicePort"))
        })?,
    };
    let port = match port {
        Value::String(port_name) => json!({"name": port_name}),
        number => json!({"number": number}),
    };
    Ok(json!({"name": name, "port": port}))
}

fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
    let spec: Spec = input.spec()?;
    // Only names, kinds and a Service's ports are read (see `Head`), not
    // whole objects; the children only when a path needs a backend.
    let workload: Head = input.workload_as()?;
    let children: Vec<Child> = if spec.rules.iter().any(|r| !r.paths.is_empty()) {
        input.children_as()?
    } else {
        Vec::new()
    };
    let name = input
        .trait_name()
        .or(workload.name())
        .or((!ctx.component_name.is_empty()).then_some(ctx.component_name.as_str()))
        .ok_or_else(|| {
            error(
                "neither the trait nor the workload has a metadata.name to name the Ingress after",
            )
        })?;

    let mut rules = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let mut paths = Vec::new();
        for (j, p) in rule.paths.iter().enumerate() {
            let service = backend(
                &children,
                &p.backend,
                &format!("spec.rules[{i}].paths[{j}]"),
            )?;
            paths.push(json!({
                "path": p.path,
                "pathType": p.path_type.as_deref().unwrap_or("Prefix"),
                "backend": {"service": service},
            }));
        }
        let mut out = json!({"http": {"paths": paths}});
        if let Some(host) = &rule.host {
            out["host"] = json!(host);
        }
        rules.push(out);
    }

    let mut ingress = object("networking.k8s.io/v1", "Ingress", name);
    ingress["spec"] = json!({"rules": rules});
    if let Some(class) = &spec.ingress_class_name {
        ingress["spec"]["ingressClassName"] = json!(class);
    }
    if let Some(tls) = spec.tls.filter(|t| !t.is_empty()) {
        ingress["spec"]["tls"] = json!(tls);
    }
    Ok(Outcome::new().output(&ingress))
}

fn health(observed: &[Value]) -> HealthReport {
    let Some(ingress) = find_object(observed, "networking.k8s.io/v1", "Ingress") else {
        return HealthReport::unknown("no Ingress observed yet");
    };
    let entries = get_path(ingress, "status.loadBalancer.ingress")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if entries.is_empty() {
        return HealthReport::progressing(
            "waiting for the ingress controller to assign an address",
        );
    }
    let addresses: Vec<&str> = entries
        .iter()
        .filter_map(|a| a.get("ip").or(a.get("hostname")).and_then(Value::as_str))
        .collect();
    if addresses.is_empty() {
        HealthReport::healthy("the ingress controller has admitted the Ingress")
    } else {
        HealthReport::healthy(format!("serving at {}", addresses.join(", ")))
    }
}

impl TraitPlugin for Ingress {
    fn describe() -> Info {
        Info::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Routes HTTP traffic from outside the cluster to the workload's Service with a networking.k8s.io/v1 Ingress.",
        )
        .applies_to(&["*"])
        .schema(include_str!("schema.json"))
    }

    fn apply(ctx: &Context, input: &TraitInput) -> Result<Outcome, PluginError> {
        apply(ctx, input)
    }

    fn health(_ctx: &Context, observed: &[Value]) -> HealthReport {
        health(observed)
    }
}

// Each call gets a fresh instance: allocate by bumping, never free.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: oam_plugin_sdk::CallArena = oam_plugin_sdk::CallArena::new();

oam_plugin_sdk::no_std_runtime!();

export_trait!(Ingress);

#[cfg(test)]
mod tests {
    use super::*;

    fn ingress_trait(name: Option<&str>, spec: Value) -> Value {
        let mut t =
            json!({"apiVersion": "core.oam.dev/v1alpha2", "kind": "IngressTrait", "spec": spec});
        if let Some(name) = name {
            t["metadata"] = json!({"name": name});
        }
        t
    }

    fn service(name: &str, ports: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"ports": ports}})
    }

    fn output(out: &Outcome) -> Value {
        assert_eq!(out.outputs.len(), 1);
        assert!(out.patches.is_empty());
        serde_json::from_str(&out.outputs[0]).unwrap()
    }

    #[test]
    fn containerized_sample_routes_to_the_child_service() {
        // catalog/traits/ingresstrait/config/samples/containerized
        let spec = json!({"rules": [{"host": "nginx.oam.com", "paths": [{"path": "/"}]}]});
        let children = vec![
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "example-appconfig-workload"}}),
            service(
                "example-appconfig-workload",
                json!([{"name": "wordpress", "port": 80, "targetPort": 80}]),
            ),
        ];
        let input = TraitInput::new(
            ingress_trait(Some("example-ingress-trait"), spec),
            json!({"metadata": {"name": "example-appconfig-workload"}}),
            children,
        );
        let ingress = output(&Ingress::apply(&Context::default(), &input).unwrap());
        assert_eq!(
            ingress,
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "example-ingress-trait"},
            "spec": {"rules": [{"host": "nginx.oam.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "example-appconfig-workload", "port": {"number": 80}}}
            }]}}]}})
        );
    }

    #[test]
    fn deployment_sample_uses_the_explicit_backend() {
        // catalog/traits/ingresstrait/config/samples/deployment
        let spec = json!({"rules": [{"host": "nginx.oam.com", "paths": [
            {"path": "/", "backend": {"serviceName": "deploy-test", "servicePort": 8080}},
            {"path": "/api", "pathType": "Exact", "backend": {"serviceName": "deploy-test", "servicePort": "http"}}
        ]}], "tls": [{"hosts": ["nginx.oam.com"], "secretName": "tls"}], "ingressClassName": "nginx"});
        let input = TraitInput::new(
            ingress_trait(None, spec),
            json!({"metadata": {"name": "web"}}),
            vec![],
        );
        let ingress = output(&Ingress::apply(&Context::default(), &input).unwrap());
        assert_eq!(ingress["metadata"]["name"], "web");
        let paths = &ingress["spec"]["rules"][0]["http"]["paths"];
        assert_eq!(
            paths[0]["backend"]["service"],
            json!({"name": "deploy-test", "port": {"number": 8080}})
        );
        assert_eq!(
            paths[1]["backend"]["service"],
            json!({"name": "deploy-test", "port": {"name": "http"}})
        );
        assert_eq!(paths[1]["pathType"], "Exact");
        assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
        assert_eq!(ingress["spec"]["tls"][0]["secretName"], "tls");
    }

    #[test]
    fn named_service_without_port_takes_its_first_port() {
        let spec = json!({"rules": [{"paths": [{"path": "/", "backend": {"serviceName": "b"}}]}]});
        let children = vec![
            service("a", json!([{"port": 1}])),
            service("b", json!([{"port": 2}, {"port": 3}])),
        ];
        let input = TraitInput::new(ingress_trait(Some("i"), spec), json!({}), children);
        let ingress = output(&Ingress::apply(&Context::default(), &input).unwrap());
        let rule = &ingress["spec"]["rules"][0];
        assert!(rule.get("host").is_none());
        assert_eq!(
            rule["http"]["paths"][0]["backend"]["service"]["port"],
            json!({"number": 2})
        );
    }

    #[test]
    fn errors_name_the_backend_field() {
        // catalog/traits/ingresstrait/config/samples/statefulset: no Service to route to.
        let spec =
            json!({"rules": [{"host": "nginx.oam.com", "paths": [{"path": "/"}, {"path": "/x"}]}]});
        let sts =
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}});
        let input = TraitInput::new(ingress_trait(Some("i"), spec), sts, vec![]);
        let e = Ingress::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("spec.rules[0].paths[0].backend.serviceName")
        );

        let spec = json!({"rules": [{"paths": [{"path": "/"}]}, {"paths": [{"path": "/", "backend": {"serviceName": "other"}}]}]});
        let children = vec![service("a", json!([{"port": 1}]))];
        let input = TraitInput::new(ingress_trait(Some("i"), spec), json!({}), children);
        let e = Ingress::apply(&Context::default(), &input).unwrap_err();
        assert_eq!(
            e.field.as_deref(),
            Some("spec.rules[1].paths[0].backend.servicePort")
        );
    }

    #[test]
    fn health_waits_for_an_address() {
        let ctx = Context::default();
        assert_eq!(Ingress::health(&ctx, &[]).state, HealthState::Unknown);
        let mut ing = json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"}});
        assert_eq!(
            Ingress::health(&ctx, &[ing.clone()]).state,
            HealthState::Progressing
        );
        ing["status"] = json!({"loadBalancer": {"ingress": []}});
        assert_eq!(
            Ingress::health(&ctx, &[ing.clone()]).state,
            HealthState::Progressing
        );
        ing["status"] = json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb.example.com"}]}});
        let r = Ingress::health(&ctx, &[ing]);
        assert_eq!(
            (r.state, r.message.as_str()),
            (HealthState::Healthy, "serving at 10.0.0.1, lb.example.com")
        );
    }

    #[test]
    fn describes_itself() {
        let info = Ingress::describe();
        assert_eq!(info.name, "ingress");
        let schema: Value = serde_json::from_str(&info.properties_schema).unwrap();
        assert_eq!(schema["required"], json!(["rules"]));
    }
}
