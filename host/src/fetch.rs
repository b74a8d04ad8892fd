//! Fetching a plugin component named by `url:` in a Definition.
//!
//! One GET over https (http only to a loopback address, for tests and local
//! mirrors; the Definition's parser enforces that), no redirects, a deadline
//! and a size cap. Uses the hyper, hyper-util and rustls stack kube already
//! brings, with the system's root certificates. The caller checks the bytes
//! against the mandatory `sha256` pin and keeps them: this module caches
//! nothing and knows nothing of plugins.
//!
//! Blocking: the request runs on a thread of its own with a current-thread
//! runtime, so it may be called from sync code (render) and from a blocking
//! section of the controller alike, never nesting runtimes.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The largest component a URL may serve.
pub const MAX_BYTES: usize = 256 * 1024 * 1024;
/// How long one fetch may take, connection to last byte.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a URL could not be fetched; said of the URL by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("invalid url: {0}")]
    BadUrl(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("the server answered {0}, expected 200")]
    Status(u16),
    #[error("the body exceeds {MAX_BYTES} bytes")]
    TooLarge,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// GET `url` and return the body of a `200` answer.
pub fn get(url: &str) -> Result<Vec<u8>, FetchError> {
    get_with(url, TIMEOUT)
}

fn get_with(url: &str, timeout: Duration) -> Result<Vec<u8>, FetchError> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| FetchError::BadUrl(e.to_string()))?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| FetchError::Request(e.to_string()))?;
                runtime.block_on(async {
                    tokio::time::timeout(timeout, request(uri))
                        .await
                        .map_err(|_| FetchError::Timeout(timeout))?
                })
            })
            .join()
            .unwrap_or_else(|_| Err(FetchError::Request("the fetch thread panicked".into())))
    })
}

async fn request(uri: hyper::Uri) -> Result<Vec<u8>, FetchError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| FetchError::Request(format!("no root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
    let response = client
        .get(uri)
        .await
        .map_err(|e| FetchError::Request(format!("{e:#}")))?;
    if response.status() != hyper::StatusCode::OK {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let body = Limited::new(response.into_body(), MAX_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                FetchError::TooLarge
            } else {
                FetchError::Request(e.to_string())
            }
        })?;
    Ok(body.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-connection HTTP server on loopback answering `answer`.
    fn serve_once(answer: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(&answer);
            }
        });
        format!("http://{addr}/plugin.wasm")
    }

    #[test]
    fn a_200_answer_is_the_body() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".to_vec(),
        );
        assert_eq!(get(&url).unwrap(), b"hello");
    }

    #[test]
    fn other_answers_are_errors() {
        let url = serve_once(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        );
        assert_eq!(get(&url), Err(FetchError::Status(404)));
        assert!(matches!(
            get("not a url"),
            Err(FetchError::BadUrl(_)) | Err(FetchError::Request(_))
        ));
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}/x.wasm");
        // Accepted by the kernel's backlog, never answered.
        let result = get_with(&url, Duration::from_millis(200));
        drop(listener);
        assert_eq!(result, Err(FetchError::Timeout(Duration::from_millis(200))));
    }
}
