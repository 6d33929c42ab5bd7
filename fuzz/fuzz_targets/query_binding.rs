//! Query (and path and body) binding through a real route table built from the test proto's
//! `google.api.http` annotations: `METHOD URI` on the first line, the JSON body (if any) after
//! it. The request is routed with `RouteTable::find` and bound with `Route::bind`, which parses
//! the query string into the request message; nothing may panic.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use libfuzzer_sys::fuzz_target;
use polygate::model::{Payload, RequestBody, RequestKey};
use polygate_fuzz::route_table;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Some(space) = head.iter().position(|b| *b == b' ') else {
        return;
    };
    let Ok(method) = Method::from_bytes(&head[..space]) else {
        return;
    };
    let Ok(uri) = Uri::try_from(&head[space + 1..]) else {
        return;
    };
    let key = RequestKey::Http { method, uri };
    let Ok(matched) = route_table().find(&key) else {
        return;
    };
    let body = if body.is_empty() {
        RequestBody::Empty
    } else {
        RequestBody::Unary(Payload::Json(Bytes::copy_from_slice(body)))
    };
    let _ = matched.route.bind(
        &matched.captures,
        matched.query,
        body,
        HeaderMap::new(),
        None,
    );
});
