//! The demo's small REST service: readers' reviews of the library's books, by ISBN.
//! `GET /reviews/{isbn}` answers a JSON array (empty for a book nobody reviewed).

#![allow(dead_code, unreachable_pub)]

use serde_json::json;

use super::http_server::{Answer, HttpServer, Recorded};

/// The reviews of the book with `isbn`, oldest first.
pub fn reviews_of(isbn: &str) -> serde_json::Value {
    match isbn {
        "9780199232765" => json!([
            {"reader": "ada", "stars": 5, "text": "Long, and worth every page."},
            {"reader": "grace", "stars": 4, "text": "Skim the essays on history."},
        ]),
        "9780465023820" => json!([
            {"reader": "richard", "stars": 5, "text": "Physics as it should be taught."},
        ]),
        _ => json!([]),
    }
}

/// Serves the reviews on `addr` (`127.0.0.1:0` for any port).
pub async fn start_reviews(addr: &str) -> std::io::Result<HttpServer> {
    HttpServer::start_on(addr, None, |request: Recorded| async move {
        let isbn = request
            .target
            .strip_prefix("/reviews/")
            .filter(|isbn| !isbn.is_empty() && !isbn.contains(['/', '?']));
        match (isbn, request.method.as_str()) {
            (Some(isbn), "GET" | "HEAD") => Answer::json(reviews_of(isbn)),
            (Some(_), _) => Answer::json(json!({"error": "only GET"}))
                .status(405)
                .header("allow", "GET, HEAD"),
            (None, _) => Answer::json(json!({"error": "not found"})).status(404),
        }
    })
    .await
}
