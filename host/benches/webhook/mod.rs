//! The webhook baseline of `trait_call`: the native port of a trait
//! (`native/`) served over HTTP/1.1 on 127.0.0.1, called through one
//! keep-alive connection, the way Metacontroller hooks and Crossplane
//! composition functions reach their logic.
//!
//! The wire format follows those hooks: the request is one JSON document
//! that embeds the context and the objects,
//! `{"context": {...}, "trait": {...}, "workload": {...}, "children": [...]}`,
//! parsed once by the server; the response is the outcome in the WIT
//! contract's shape, with patch bodies and outputs as JSON text (what the
//! host's merge step consumes), `{"ok": {"patches": [...], "outputs": [...]}}`
//! or `{"err": {"message": ..., "field": ...}}`.
//!
//! Server: hyper's HTTP/1.1 connection on a current-thread tokio runtime in
//! its own thread (as a separate webhook process would run). Client: hyper's
//! HTTP/1.1 client connection on a current-thread runtime driven by the
//! calling thread. `TCP_NODELAY` on both ends, as every HTTP stack sets it.
//! A call builds the request body from the argument strings, sends it, waits
//! for the answer and parses it into an [`Outcome`].

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use oam_wasm::contract::{
    Context, ObjectRef, Outcome, Patch, PatchBody, PatchTarget, PluginError, ResourceKind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::native::{self, TraitInput};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireKind {
    api_version: String,
    kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireContext {
    app_name: String,
    namespace: String,
    component_name: String,
    revision_name: String,
    workload_ref_path: String,
    pod_spec_path: String,
    child_resource_kinds: Vec<WireKind>,
}

impl From<&Context> for WireContext {
    fn from(ctx: &Context) -> WireContext {
        WireContext {
            app_name: ctx.app_name.clone(),
            namespace: ctx.namespace.clone(),
            component_name: ctx.component_name.clone(),
            revision_name: ctx.revision_name.clone(),
            workload_ref_path: ctx.workload_ref_path.clone(),
            pod_spec_path: ctx.pod_spec_path.clone(),
            child_resource_kinds: ctx
                .child_resource_kinds
                .iter()
                .map(|k| WireKind {
                    api_version: k.api_version.clone(),
                    kind: k.kind.clone(),
                })
                .collect(),
        }
    }
}

impl From<WireContext> for Context {
    fn from(w: WireContext) -> Context {
        Context {
            app_name: w.app_name,
            namespace: w.namespace,
            component_name: w.component_name,
            revision_name: w.revision_name,
            workload_ref_path: w.workload_ref_path,
            pod_spec_path: w.pod_spec_path,
            child_resource_kinds: w
                .child_resource_kinds
                .into_iter()
                .map(|k| ResourceKind {
                    api_version: k.api_version,
                    kind: k.kind,
                })
                .collect(),
        }
    }
}

/// The request as the server reads it.
#[derive(Deserialize)]
struct Review {
    context: WireContext,
    #[serde(rename = "trait")]
    trait_object: Value,
    workload: Value,
    #[serde(default)]
    children: Vec<Value>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRef {
    api_version: String,
    kind: String,
    name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum WireTarget {
    Workload,
    Child(WireRef),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum WireBody {
    Merge(String),
    JsonPatch(String),
}

#[derive(Serialize, Deserialize)]
struct WirePatch {
    target: WireTarget,
    body: WireBody,
}

#[derive(Serialize, Deserialize)]
struct WireOutcome {
    patches: Vec<WirePatch>,
    outputs: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct WireError {
    message: String,
    field: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum WireResponse {
    Ok(WireOutcome),
    Err(WireError),
}

impl From<Outcome> for WireOutcome {
    fn from(o: Outcome) -> WireOutcome {
        WireOutcome {
            patches: o
                .patches
                .into_iter()
                .map(|p| WirePatch {
                    target: match p.target {
                        PatchTarget::Workload => WireTarget::Workload,
                        PatchTarget::Child(r) => WireTarget::Child(WireRef {
                            api_version: r.api_version,
                            kind: r.kind,
                            name: r.name,
                        }),
                    },
                    body: match p.body {
                        PatchBody::Merge(s) => WireBody::Merge(s),
                        PatchBody::JsonPatch(s) => WireBody::JsonPatch(s),
                    },
                })
                .collect(),
            outputs: o.outputs,
        }
    }
}

impl From<WireOutcome> for Outcome {
    fn from(w: WireOutcome) -> Outcome {
        Outcome {
            patches: w
                .patches
                .into_iter()
                .map(|p| Patch {
                    target: match p.target {
                        WireTarget::Workload => PatchTarget::Workload,
                        WireTarget::Child(r) => PatchTarget::Child(ObjectRef {
                            api_version: r.api_version,
                            kind: r.kind,
                            name: r.name,
                        }),
                    },
                    body: match p.body {
                        WireBody::Merge(s) => PatchBody::Merge(s),
                        WireBody::JsonPatch(s) => PatchBody::JsonPatch(s),
                    },
                })
                .collect(),
            outputs: w.outputs,
        }
    }
}

type ParsedApply = fn(&Context, TraitInput) -> Result<Outcome, PluginError>;

/// The trait a path serves: `/manualscaler`, `/volume`.
fn route(path: &str) -> Option<ParsedApply> {
    match path {
        "/manualscaler" => Some(native::manualscaler_parsed),
        "/volume" => Some(native::volume_parsed),
        _ => None,
    }
}

fn answer(path: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
    let Some(apply) = route(path) else {
        return (StatusCode::NOT_FOUND, b"no such hook\n".to_vec());
    };
    let review: Review = match serde_json::from_slice(body) {
        Ok(review) => review,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n").into_bytes()),
    };
    let ctx = Context::from(review.context);
    let result = TraitInput::from_values(review.trait_object, review.workload, review.children)
        .and_then(|input| apply(&ctx, input));
    let response = match result {
        Ok(outcome) => WireResponse::Ok(outcome.into()),
        Err(e) => WireResponse::Err(WireError {
            message: e.message,
            field: e.field,
        }),
    };
    match serde_json::to_vec(&response) {
        Ok(bytes) => (StatusCode::OK, bytes),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e}\n").into_bytes(),
        ),
    }
}

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let (status, body) = match request.into_body().collect().await {
        Ok(body) => answer(&path, &body.to_bytes()),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n").into_bytes()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Serve the hooks on an ephemeral loopback port from a thread of its own,
/// for the rest of the process.
pub fn serve() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the webhook");
    let addr = listener.local_addr().expect("webhook address");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    std::thread::Builder::new()
        .name("webhook".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("webhook runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(
                                TokioIo::new(stream),
                                hyper::service::service_fn(handle),
                            )
                            .await;
                    });
                }
            });
        })
        .expect("webhook thread");
    addr
}

/// One keep-alive connection to the hooks.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    sender: RefCell<SendRequest<Full<Bytes>>>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        let sender = runtime.block_on(async {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect to the webhook");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP/1.1 handshake");
            // Driven whenever the runtime runs, i.e. inside every call's
            // `block_on`.
            tokio::spawn(connection);
            sender
        });
        Client {
            runtime,
            sender: RefCell::new(sender),
        }
    }

    /// Call the hook at `path` (`/manualscaler`, `/volume`).
    pub fn apply(
        &self,
        path: &str,
        ctx: &Context,
        trait_object: &str,
        workload: &str,
        children: &[String],
    ) -> Result<Outcome, String> {
        let transport = |e: &dyn std::fmt::Display| format!("webhook transport: {e}");
        let context = serde_json::to_string(&WireContext::from(ctx)).map_err(|e| transport(&e))?;
        let children_len: usize = children.iter().map(|c| c.len() + 1).sum();
        let mut body = String::with_capacity(
            64 + context.len() + trait_object.len() + workload.len() + children_len,
        );
        body.push_str("{\"context\":");
        body.push_str(&context);
        body.push_str(",\"trait\":");
        body.push_str(trait_object);
        body.push_str(",\"workload\":");
        body.push_str(workload);
        body.push_str(",\"children\":[");
        for (i, child) in children.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(child);
        }
        body.push_str("]}");
        let request = Request::post(path)
            .header(hyper::header::HOST, "127.0.0.1")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(&e))?;
        let mut sender = self.sender.borrow_mut();
        let (status, bytes) = self.runtime.block_on(async {
            sender.ready().await.map_err(|e| transport(&e))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| transport(&e))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| transport(&e))?
                .to_bytes();
            Ok::<_, String>((status, bytes))
        })?;
        if status != StatusCode::OK {
            return Err(format!(
                "webhook answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        match serde_json::from_slice(&bytes).map_err(|e| transport(&e))? {
            WireResponse::Ok(outcome) => Ok(outcome.into()),
            WireResponse::Err(e) => Err(format!(
                "webhook rejected the input: {} (field {:?})",
                e.message, e.field
            )),
        }
    }
}
