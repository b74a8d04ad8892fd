//! `url:` plugin sources through the registry, against a loopback HTTP server:
//! fetched once per pin, refused on a digest mismatch, errors name the URL.
//! (TLS is the rustls stack kube uses; it is not exercised here.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oam_wasm::api::WasmExtension;
use oam_wasm::contract::PluginKind;
use oam_wasm::engine::{Engine, sha256_hex};
use oam_wasm::registry::{PluginResolver, Registry, RegistryError};
use serde_json::json;

/// Serves `body` at every path with status `status`; counts the requests.
fn serve(status: &'static str, body: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            counter.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(body);
        }
    });
    (format!("http://{addr}/manualscaler.wasm"), hits)
}

fn declaration(url: &str, sha256: &str) -> WasmExtension {
    WasmExtension::from_value(&json!({"url": url, "sha256": sha256})).unwrap()
}

#[test]
fn a_url_plugin_is_fetched_once_and_loaded() {
    let bytes = Registry::builtin_bytes("manualscaler").unwrap();
    let (url, hits) = serve("200 OK", bytes);
    let registry = Registry::new(Engine::with_defaults().unwrap());
    let wasm = declaration(&url, &sha256_hex(bytes));

    let plugin = registry.resolve(&wasm, PluginKind::Trait).unwrap();
    assert_eq!(plugin.plugin().info().name, "manualscaler");
    registry.resolve(&wasm, PluginKind::Trait).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1, "fetched once per pin");
}

#[test]
fn a_url_plugin_must_match_its_pin() {
    let bytes = Registry::builtin_bytes("manualscaler").unwrap();
    let (url, hits) = serve("200 OK", bytes);
    let registry = Registry::new(Engine::with_defaults().unwrap());
    let wasm = declaration(&url, &"0".repeat(64));

    let e = registry.resolve(&wasm, PluginKind::Trait).unwrap_err();
    assert!(
        matches!(&e, RegistryError::DigestMismatch { actual, .. } if *actual == sha256_hex(bytes)),
        "{e}"
    );
    // A mismatch is not kept: the next resolve asks again.
    let _ = registry.resolve(&wasm, PluginKind::Trait);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn a_failed_fetch_names_the_url_and_the_answer() {
    let (url, _) = serve("404 Not Found", b"");
    let registry = Registry::new(Engine::with_defaults().unwrap());
    let e = registry
        .resolve(&declaration(&url, &"0".repeat(64)), PluginKind::Trait)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("cannot fetch plugin from {url}: the server answered 404, expected 200")
    );
}
