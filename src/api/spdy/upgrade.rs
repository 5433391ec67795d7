//! The HTTP side of SPDY/3.1: a request asking for it (`Upgrade: SPDY/3.1` with the stream
//! protocols it speaks in `X-Stream-Protocol-Version`), and the 101 that starts it.

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::api::status::{self, Body};

/// None when the request does not ask for SPDY; else the first of `supported` it offers, or the
/// kubelet's refusal when it offers none of them.
pub fn negotiate<B>(
    req: &Request<B>,
    supported: &[&'static str],
) -> Option<Result<&'static str, Response<Body>>> {
    let spdy = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("spdy/3.1"));
    if !spdy {
        return None;
    }
    let offered: Vec<String> = req
        .headers()
        .get_all("x-stream-protocol-version")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .collect();
    Some(
        supported
            .iter()
            .find(|p| offered.iter().any(|o| o == *p))
            .copied()
            .ok_or_else(|| {
                status::failure(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    &format!(
                        "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}"
                    ),
                    None,
                )
            }),
    )
}

/// The 101 for `protocol`; the caller serves the connection once hyper has upgraded it.
pub fn switching(protocol: &'static str) -> Response<Body> {
    use http_body_util::BodyExt as _;
    let mut response = Response::new(
        http_body_util::Empty::<bytes::Bytes>::new()
            .map_err(|e| match e {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    h.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(protocol),
    );
    response
}
