//! The small HTTP client the policies call out with (a JWKS URL, a token introspection
//! endpoint): hyper-util's pooled client over rustls (ring, the system's trust roots), HTTP/1.1.
//! policy/ sits beside the pipeline and may not import backends/, so it keeps this one client
//! instead of the backends' `http_client`.

use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A pooled client sending bodies of type `B`.
pub(crate) type PolicyClient<B> = Client<HttpsConnector<HttpConnector>, B>;

/// An `http://` or `https://` URL, or why `url` is not one.
pub(crate) fn url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|_| format!("'{url}' is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!("'{url}' must be an http:// or https:// URL"));
    }
    Ok(uri)
}

/// A client whose connections must be made within `connect_timeout`.
pub(crate) fn client<B>(connect_timeout: Duration) -> Result<PolicyClient<B>, String>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let tls = crate::tls::client_config(crate::tls::TrustRoots::System, None)?;
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// An answer's body, at most `max` bytes.
pub(crate) async fn body(body: Incoming, max: usize) -> Result<Bytes, String> {
    #[allow(
        clippy::disallowed_methods,
        reason = "capped by Limited at `max` (1 MiB for a JWKS, 64 KiB for an introspection answer)"
    )]
    let collected = Limited::new(body, max)
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(collected.to_bytes())
}
