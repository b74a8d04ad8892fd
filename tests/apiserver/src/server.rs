//! HTTP: routing Kubernetes REST paths to discovery, the store and watch streams.
//!
//! Owns URL parsing (`/api/v1/namespaces/{ns}/{plural}/{name}/{sub}` and the `/apis/...`
//! forms), verbs, query parameters, content types, status codes, `Status` bodies,
//! fault injection and the request counter. Holds no state of its own.

use crate::Shared;
use crate::patch::PatchType;
use crate::resources::ResourceDef;
use crate::selector::Selector;
use crate::store::{ApiError, DeleteOpts, WriteCtx, WriteOp};
use crate::watch::{self, WatchRequest};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Accepts connections until `shutdown` fires.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => return,
        };
        let (stream, _) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}

fn full(code: u16, content_type: &str, bytes: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(BodyExt::boxed_unsync(Full::new(Bytes::from(bytes))));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    full(
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.status());
    if let Some(secs) = e.retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .with_details(json!({}))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn version_info() -> Value {
    json!({
        "major": "1", "minor": "34", "gitVersion": "v1.34.0-oam-double",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
        "platform": "linux/amd64",
    })
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    tracing::trace!(method = %req.method(), uri = %req.uri(), "request");
    match segs.as_slice() {
        ["healthz"] | ["readyz"] | ["livez"] => full(200, "text/plain", b"ok".to_vec()),
        ["version"] => json_response(200, &version_info()),
        ["api"] => json_response(
            200,
            &json!({
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr}],
            }),
        ),
        ["apis"] => json_response(200, &shared.with_state(|s| s.registry.api_group_list())),
        ["apis", group] => match shared.with_state(|s| s.registry.api_group(group)) {
            Some(v) => json_response(200, &v),
            None => error_response(&not_found_path()),
        },
        ["api", version] => discovery(&shared, "", version),
        ["apis", group, version] => discovery(&shared, group, version),
        ["api", version, rest @ ..] => {
            let (v, rest) = (
                version.to_string(),
                rest.iter().map(|s| s.to_string()).collect(),
            );
            resource(shared, req, String::new(), v, rest).await
        }
        ["apis", group, version, rest @ ..] => {
            let (g, v) = (group.to_string(), version.to_string());
            let rest = rest.iter().map(|s| s.to_string()).collect();
            resource(shared, req, g, v, rest).await
        }
        _ => error_response(&not_found_path()),
    }
}

fn discovery(shared: &Shared, group: &str, version: &str) -> Response<Body> {
    match shared.with_state(|s| s.registry.api_resource_list(group, version)) {
        Some(v) => json_response(200, &v),
        None => error_response(&not_found_path()),
    }
}

/// A parsed resource URL.
struct Target {
    def: ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn route(shared: &Shared, group: &str, version: &str, rest: &[String]) -> Result<Target, ApiError> {
    shared.with_state(|s| {
        let reg = &s.registry;
        let (ns, plural, name, sub) = match rest {
            [n, ns, plural, tail @ ..]
                if n == "namespaces"
                    && reg
                        .find(group, version, plural)
                        .is_some_and(|d| d.namespaced) =>
            {
                (
                    Some(ns.clone()),
                    plural.clone(),
                    tail.first().cloned(),
                    tail.get(1).cloned(),
                )
            }
            [plural, tail @ ..] => (
                None,
                plural.clone(),
                tail.first().cloned(),
                tail.get(1).cloned(),
            ),
            [] => return Err(not_found_path()),
        };
        if rest.len() > 5 {
            return Err(not_found_path());
        }
        let def = reg
            .find(group, version, &plural)
            .cloned()
            .ok_or_else(not_found_path)?;
        let status = match sub.as_deref() {
            None => false,
            Some("status") if def.status && name.is_some() => true,
            Some(_) => return Err(not_found_path()),
        };
        Ok(Target {
            def,
            namespace: ns,
            name,
            status,
        })
    })
}

fn manager(q: &HashMap<String, String>, req: &Request<Incoming>) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let prefix: String = ua
        .split('/')
        .next()
        .unwrap_or_default()
        .chars()
        .take(128)
        .collect();
    if prefix.is_empty() {
        "unknown".into()
    } else {
        prefix
    }
}

fn selectors(q: &HashMap<String, String>) -> Result<(Selector, Selector), ApiError> {
    let labels = Selector::parse_labels(
        q.get("labelSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )
    .map_err(ApiError::bad_request)?;
    let fields = Selector::parse_fields(
        q.get("fieldSelector")
            .map(String::as_str)
            .unwrap_or_default(),
    )
    .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

async fn body_json(req: Request<Incoming>, yaml_ok: bool) -> Result<Value, ApiError> {
    let bytes = req
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok(v),
        Err(e) if yaml_ok => serde_yaml_ng::from_slice(&bytes).map_err(|y| {
            ApiError::bad_request(format!("the body is neither JSON ({e}) nor YAML ({y})"))
        }),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

async fn resource(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    group: String,
    version: String,
    rest: Vec<String>,
) -> Response<Body> {
    let target = match route(&shared, &group, &version, &rest) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let q = query(&req);
    let is_watch = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let verb = match (req.method(), target.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if is_watch => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, false) => "create",
        (&Method::PUT, true) => "update",
        (&Method::PATCH, true) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => {
            return error_response(&ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    // Faults match "deployments" for the resource and its status, "deployments/status"
    // for the status alone.
    let plural = if target.status {
        format!("{}/status", target.def.plural)
    } else {
        target.def.plural.clone()
    };
    let injected = shared.faults().take_fail(verb, &plural);
    if let Some(f) = injected {
        tracing::debug!(verb, resource = %plural, status = f.status, "injected failure");
        return error_response(&injected_error(f.status, f.retry_after));
    }
    let delay = shared.faults().take_delay(verb, &plural);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    match dispatch(shared, req, target, q, verb).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn injected_error(status: u16, retry_after: Option<u64>) -> ApiError {
    let (reason, message) = match status {
        400 => ("BadRequest", "injected bad request"),
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "injected: forbidden"),
        404 => (
            "NotFound",
            "injected: the server could not find the requested resource",
        ),
        409 => (
            "Conflict",
            "injected: the object has been modified; please apply your changes to the latest version and try again",
        ),
        410 => ("Expired", "injected: resource version expired"),
        422 => ("Invalid", "injected: invalid"),
        429 => (
            "TooManyRequests",
            "Too many requests, please try again later.",
        ),
        500 => ("InternalError", "Internal error occurred: injected"),
        503 => (
            "ServiceUnavailable",
            "The server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "Timeout: request did not complete within the allowed duration",
        ),
        _ => ("InternalError", "injected failure"),
    };
    let mut e = ApiError::new(status, reason, message);
    e.retry_after = retry_after;
    e
}

async fn dispatch(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    t: Target,
    q: HashMap<String, String>,
    verb: &str,
) -> Result<Response<Body>, ApiError> {
    let def = &t.def;
    let ns = t.namespace.as_deref();
    let name = t.name.clone().unwrap_or_default();
    // `dryRun=All`: the write runs against a scratch copy of the store.
    let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    match verb {
        "get" => shared.with_state(|s| {
            s.get(def, if def.namespaced { ns } else { None }, &name)
                .map(|o| json_response(200, &crate::store::present(def, o)))
                .ok_or_else(|| ApiError::not_found(def, &name))
        }),
        "list" => {
            let (labels, fields) = selectors(&q)?;
            let limit = q.get("limit").and_then(|l| l.parse().ok());
            let cont = q.get("continue").map(String::as_str);
            let v = shared.with_state(|s| s.list(def, ns, &labels, &fields, limit, cont))?;
            Ok(json_response(200, &v))
        }
        "watch" => {
            let (labels, fields) = selectors(&q)?;
            let send_initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
            let wr = WatchRequest {
                def: def.clone(),
                namespace: t.namespace.clone(),
                labels,
                fields,
                bookmarks: q.get("allowWatchBookmarks").is_some_and(|v| v == "true")
                    || send_initial,
                send_initial,
                timeout: q
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs),
            };
            let rv = q.get("resourceVersion").map(String::as_str);
            let start = shared
                .with_state(|s| s.watch_start(def, ns, rv, send_initial, &wr.labels, &wr.fields));
            let body = match start {
                Ok(start) => watch::stream(wr, start, shared.drops.subscribe()),
                Err(e) if e.code == 410 => watch::expired(&e),
                Err(e) => return Err(e),
            };
            let mut r = Response::new(body);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            Ok(r)
        }
        "create" => {
            let manager = manager(&q, &req);
            let body = body_json(req, false).await?;
            let ctx = WriteCtx {
                def,
                namespace: ns,
                manager,
            };
            let v = shared.mutate(dry_run, |s| s.create(&ctx, body, false))?;
            Ok(json_response(201, &v))
        }
        "update" | "patch" => {
            let manager = manager(&q, &req);
            let op = if verb == "update" {
                WriteOp::Put(body_json(req, false).await?)
            } else {
                let ct = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let Some(kind) = PatchType::from_content_type(&ct) else {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
                        ),
                    ));
                };
                if kind == PatchType::Apply {
                    if !q.contains_key("fieldManager") {
                        return Err(ApiError::new(
                            422,
                            "Invalid",
                            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                        ));
                    }
                    let force = q.get("force").is_some_and(|f| f == "true");
                    WriteOp::Apply {
                        body: body_json(req, true).await?,
                        force,
                    }
                } else {
                    WriteOp::Patch(kind, body_json(req, false).await?)
                }
            };
            let ctx = WriteCtx {
                def,
                namespace: ns,
                manager,
            };
            let (existed, v) = shared.mutate(dry_run, |s| {
                let existed = s
                    .get(def, if def.namespaced { ns } else { None }, &name)
                    .is_some();
                s.write(&ctx, &name, t.status, op).map(|v| (existed, v))
            })?;
            Ok(json_response(if existed { 200 } else { 201 }, &v))
        }
        "delete" => {
            let body = body_json(req, false).await?;
            let opts = delete_opts(&q, &body);
            let v = shared.mutate(dry_run, |s| s.delete(def, ns, &name, &opts))?;
            Ok(json_response(200, &v))
        }
        "deletecollection" => {
            let (labels, fields) = selectors(&q)?;
            let body = body_json(req, false).await?;
            let opts = delete_opts(&q, &body);
            let v = shared.mutate(dry_run, |s| {
                let list = s.list(def, ns, &labels, &fields, None, None)?;
                let mut items = Vec::new();
                for o in list["items"].as_array().into_iter().flatten() {
                    let n = o["metadata"]["name"].as_str().unwrap_or_default();
                    let ons = o["metadata"]["namespace"].as_str();
                    items.push(s.delete(def, ons, n, &opts)?);
                }
                let mut list = list;
                list["items"] = json!(items);
                Ok::<_, ApiError>(list)
            })?;
            Ok(json_response(200, &v))
        }
        _ => Err(not_found_path()),
    }
}

fn delete_opts(q: &HashMap<String, String>, body: &Value) -> DeleteOpts {
    let policy = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| body["propagationPolicy"].as_str().map(str::to_string));
    let orphan = policy.as_deref() == Some("Orphan")
        || body["orphanDependents"].as_bool() == Some(true)
        || q.get("orphanDependents").is_some_and(|v| v == "true");
    DeleteOpts {
        orphan,
        precondition_uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        precondition_rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
    }
}
