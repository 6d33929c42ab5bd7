//! The `routes:` mapping-file form and the SOAP/XML/REST backend configs: every mistake is
//! reported with its file and line (or its backend), all at once.

use crate::support::scratch_dir;

/// The errors of building a gateway from `backends` and one mapping file.
async fn errors(backends: &str, mapping: &str) -> Vec<String> {
    let dir = scratch_dir();
    std::fs::write(dir.join("routes.yaml"), mapping).unwrap();
    let path = dir.join("polygate.yaml");
    std::fs::write(
        &path,
        format!("http:\n  listen: 127.0.0.1:0\nbackends:\n{backends}\nmappings: [routes.yaml]\n"),
    )
    .unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    match polygate::app::build(&config).await {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| e.to_string().replace(&format!("{}/", dir.display()), ""))
            .collect(),
    }
}

const BACKENDS: &str = "  soapy:\n    soap:\n      url: http://127.0.0.1:1/svc\n  resty:\n    rest:\n      url: http://127.0.0.1:1\n  plain:\n    xml:\n      url: http://127.0.0.1:1\n";

#[tokio::test]
async fn route_mistakes_are_reported_with_file_and_line() {
    let mapping = r#"routes:
  - get: /v1/a
    backend: soapy
    rest: {path: /a}
  - get: /v1/b/{id}
    backend: resty
    rest: {path: "/b/{uid}"}
  - get: /v1/c
    backend: nobody
    soap: {operation: C}
  - get: /v1/d
    backend: plain
    xml: {path: /d, root: "q:d"}
  - post: /v1/e
    backend: soapy
    body: "*"
    soap:
      template: "<e>{{x}}</f>"
  - get: /v1/a
    backend: resty
    rest: {path: /a2}
  - get: /v1/g
    backend: resty
    body: order
    rest: {path: /g}
  - get: /v1/x
    backend: resty
    rest: {path: /x}
  - get: /v1/x
    backend: plain
    xml: {path: /y}
"#;
    assert_eq!(
        errors(BACKENDS, mapping).await,
        vec![
            "routes.yaml:2: the route has a rest: target, but backend 'soapy' is a soap backend",
            "routes.yaml:5: path '/b/{uid}': {uid} is not a variable of the route's path /v1/b/{id} (its variables: id)",
            "routes.yaml:8: no backend is named 'nobody'",
            "routes.yaml:11: root: \"q:d\": prefix 'q' is not declared in the XML mapping's namespaces",
            "routes.yaml:14: template is not well-formed XML once filled in: malformed XML at byte 23: ill-formed document: expected `</e>`, but `</f>` was found",
            "routes.yaml:22: rest: routes forward the body as it is; body must be \"*\" or empty, not 'order'",
            "routes.yaml:29: GET /v1/x is already bound by routes.yaml:26",
        ]
    );
}

#[tokio::test]
async fn file_level_mistakes_stop_at_their_line() {
    for (mapping, expected) in [
        (
            "routes:\n  - get: /v1/a\n    backend: resty\n    rest: {path: /a}\n    soap: {operation: A}\n",
            "routes.yaml:2: the route GET /v1/a needs exactly one of soap:, xml:, rest: or publish:",
        ),
        (
            "routes:\n  - get: /v1/a\n    rest: {path: /a}\n",
            "routes.yaml:2: the route GET /v1/a names no backend",
        ),
        (
            "routes:\n  - get: /v1/a\n    post: /v1/b\n    backend: resty\n    rest: {path: /a}\n",
            "routes.yaml:3: routes[0] has more than one pattern (POST too); write one route per pattern",
        ),
        (
            "xml_mapping:\n  namespaces: {1x: \"urn:x\"}\nroutes: []\n",
            "routes.yaml:2: xml_mapping: namespaces.1x: the prefix is not a valid XML name: a name must start with a letter or '_'",
        ),
        (
            "routes:\n  - get: /v1/a\n    backend: resty\n    rest: {path: /a, verb: GET}\n",
            "routes.yaml:4: error: line 4 column 22: unknown field `verb`, expected one of method, path, forward_query",
        ),
    ] {
        let found = errors(BACKENDS, mapping).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(expected), "{found:?} should start with {expected}");
    }
}

#[tokio::test]
async fn backend_mistakes_name_the_backend() {
    let backends = "  a:\n    soap:\n      url: ftp://x/\n  b:\n    soap:\n      url: http://x/\n      ws_security:\n        username: u\n        password_env: POLYGATE_IT_NO_SUCH_VARIABLE\n  c:\n    rest:\n      url: http://x/\n      max_response_size: 0\n";
    assert_eq!(
        errors(backends, "routes: []\n").await,
        vec![
            "backend 'a': url 'ftp://x/' needs http:// or https://",
            "backend 'b': ws_security.password_env: the environment variable POLYGATE_IT_NO_SUCH_VARIABLE is not set (or not UTF-8)",
            "backend 'c': max_response_size must be at least 1 byte",
        ]
    );
}
