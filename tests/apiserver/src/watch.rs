//! Watch streams: newline-delimited `WatchEvent`s over a chunked response.
//!
//! Owns what one open watch sends: synthetic ADDED events for a fresh watch, the
//! replayed history after a resourceVersion, live events filtered by namespace and
//! selectors (an object that stops matching is sent as DELETED, one that starts matching
//! as ADDED), periodic BOOKMARKs, the initial-events-end bookmark of a streaming list,
//! 410 Expired as an ERROR event, and the end of the stream on timeout, on
//! `Faults::drop_watches`, when the client goes away, or when it reads so slowly that
//! more than [`crate::store::WATCH_LAG`] live events queued up behind it (the real
//! server closes such a watcher too; the client resumes from its last resourceVersion). Reads events; never writes the
//! store.

use crate::resources::ResourceDef;
use crate::selector::Selector;
use crate::store::{ApiError, Event, WatchStart};
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Frame};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// How often a watch that asked for bookmarks gets one.
pub(crate) const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

/// The parameters of one watch request.
#[derive(Debug)]
pub(crate) struct WatchRequest {
    pub def: ResourceDef,
    pub namespace: Option<String>,
    pub labels: Selector,
    pub fields: Selector,
    pub bookmarks: bool,
    pub send_initial: bool,
    pub timeout: Option<Duration>,
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

fn line(etype: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": etype, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn body_from(rx: mpsc::Receiver<Bytes>) -> Body {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    BodyExt::boxed_unsync(StreamBody::new(stream.boxed()))
}

/// A stream that sends one 410 ERROR event and ends, as the real server answers a watch
/// from a compacted resourceVersion.
pub(crate) fn expired(err: &ApiError) -> Body {
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send(line("ERROR", &err.status()));
    body_from(rx)
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Value {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": md})
}

/// Starts the task feeding one watch and returns the response body.
pub(crate) fn stream(
    req: WatchRequest,
    start: WatchStart,
    mut drops: watch::Receiver<u64>,
) -> Body {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let WatchStart {
            initial,
            replay,
            mut rx,
            rv,
        } = start;
        let mut last_rv = rv;
        for obj in &initial {
            if tx.send(line("ADDED", obj)).await.is_err() {
                return;
            }
        }
        if req.send_initial
            && tx
                .send(line("BOOKMARK", &bookmark(&req.def, rv, true)))
                .await
                .is_err()
        {
            return;
        }
        for ev in replay {
            if !send_event(&req, &tx, &ev).await {
                return;
            }
        }
        let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + BOOKMARK_EVERY, BOOKMARK_EVERY);
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(ev) => {
                        last_rv = last_rv.max(ev.rv);
                        if !send_event(&req, &tx, &ev).await {
                            return;
                        }
                    }
                    // Not a 410: what it missed is still in the history, unless the
                    // history moved on too, which the resumed watch is told.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick(), if req.bookmarks => {
                    if tx.send(line("BOOKMARK", &bookmark(&req.def, last_rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = sleep_until(deadline) => return,
                _ = drops.changed() => return,
                _ = tx.closed() => return,
            }
        }
    });
    body_from(rx)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Sends `ev` if it concerns this watch; false when the client is gone.
async fn send_event(req: &WatchRequest, tx: &mpsc::Sender<Bytes>, ev: &Arc<Event>) -> bool {
    if ev.key != req.def.storage_key() {
        return true;
    }
    if let Some(ns) = &req.namespace
        && ev.obj["metadata"]["namespace"].as_str() != Some(ns.as_str())
    {
        return true;
    }
    let matches = |o: &Value| req.labels.matches(o) && req.fields.matches(o);
    let etype = match ev.etype {
        "MODIFIED" => {
            let before = ev.old.as_ref().is_some_and(matches);
            match (before, matches(&ev.obj)) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return true,
            }
        }
        other if matches(&ev.obj) => other,
        _ => return true,
    };
    let obj = crate::store::present(&req.def, &ev.obj);
    tx.send(line(etype, &obj)).await.is_ok()
}
