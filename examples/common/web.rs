//! The demo's page server: `examples/web/index.html` over HTTP, which polygate reaches as a REST
//! backend (`examples/web/routes.yaml`), so the page shares the gateway's origin.

#![allow(dead_code, unreachable_pub)]

use super::http_server::{Answer, HttpServer, Recorded};

/// The demo page.
pub const INDEX_HTML: &str = include_str!("../web/index.html");

/// Serves the page on `addr` (`127.0.0.1:0` for any port).
pub async fn start_page_server(addr: &str) -> std::io::Result<HttpServer> {
    HttpServer::start_on(addr, None, |request: Recorded| async move {
        if request.target == "/index.html" {
            Answer::new(200, "text/html; charset=utf-8", INDEX_HTML)
        } else {
            Answer::new(404, "text/plain", "not found")
        }
    })
    .await
}
