//! Tests for the route matcher.

use proptest::prelude::*;

use std::borrow::Cow;

use super::*;
use crate::mapping::template::FieldPath;

fn template(text: &str) -> PathTemplate {
    match PathTemplate::parse(text) {
        Ok(template) => template,
        Err(error) => panic!("{error}"),
    }
}

/// A router whose value for each route is its template text.
fn router(routes: &[(Method, &str)]) -> Router<String> {
    let mut router = Router::new();
    for (method, text) in routes {
        if let Err(error) = router.insert(method.clone(), template(text), (*text).to_owned()) {
            panic!("{error}");
        }
    }
    router
}

/// The matched route's value and its bindings as `(field path, value, borrowed?)`.
fn found(
    router: &Router<String>,
    method: Method,
    path: &str,
) -> (String, Vec<(String, String, bool)>) {
    match router.find(&method, path) {
        Ok(hit) => (
            hit.value.clone(),
            hit.bindings
                .iter()
                .map(|b| {
                    (
                        b.field_path.to_string(),
                        b.value.to_string(),
                        matches!(b.value, Cow::Borrowed(_)),
                    )
                })
                .collect(),
        ),
        Err(error) => panic!("{method} {path}: {error}"),
    }
}

fn value(router: &Router<String>, method: Method, path: &str) -> String {
    found(router, method, path).0
}

fn binding(field_path: &str, value: &str, borrowed: bool) -> (String, String, bool) {
    (field_path.to_owned(), value.to_owned(), borrowed)
}

fn error(router: &Router<String>, method: Method, path: &str) -> MatchError {
    match router.find(&method, path) {
        Ok(hit) => panic!("{method} {path} matched {}", hit.value),
        Err(error) => error,
    }
}

#[test]
fn literal_beats_wildcard_beats_double_wildcard() {
    let router = router(&[
        (Method::GET, "/v1/{rest=**}"),
        (Method::GET, "/v1/{id}"),
        (Method::GET, "/v1/special"),
    ]);
    assert_eq!(value(&router, Method::GET, "/v1/special"), "/v1/special");
    assert_eq!(value(&router, Method::GET, "/v1/other"), "/v1/{id}");
    assert_eq!(value(&router, Method::GET, "/v1/a/b"), "/v1/{rest=**}");
    assert_eq!(value(&router, Method::GET, "/v1"), "/v1/{rest=**}");
    assert_eq!(
        found(&router, Method::GET, "/v1").1,
        [binding("rest", "", true)]
    );
}

#[test]
fn backtracks_when_a_preferred_branch_fails_deeper() {
    let router = router(&[
        (Method::GET, "/v1/shelves/{shelf}/books"),
        (Method::GET, "/v1/{parent=*/*}/items"),
        (Method::GET, "/v1/{name=**}"),
    ]);
    assert_eq!(
        value(&router, Method::GET, "/v1/shelves/1/books"),
        "/v1/shelves/{shelf}/books"
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/shelves/1/items"),
        (
            "/v1/{parent=*/*}/items".to_owned(),
            vec![binding("parent", "shelves/1", true)]
        )
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/shelves/1/other"),
        (
            "/v1/{name=**}".to_owned(),
            vec![binding("name", "shelves/1/other", true)]
        )
    );
}

#[test]
fn backtracks_when_the_method_only_exists_on_a_weaker_branch() {
    let router = router(&[
        (Method::POST, "/v1/things/special"),
        (Method::GET, "/v1/things/{id}"),
    ]);
    assert_eq!(
        value(&router, Method::GET, "/v1/things/special"),
        "/v1/things/{id}"
    );
    assert_eq!(
        value(&router, Method::POST, "/v1/things/special"),
        "/v1/things/special"
    );
}

#[test]
fn verbs_are_matched_and_stripped() {
    let router = router(&[
        (Method::POST, "/v1/{name=messages/*}:cancel"),
        (Method::GET, "/v1/{name=messages/*}"),
        (Method::POST, "/v1/*:verb:sub"),
        (Method::POST, "/v1/*:sub"),
        (Method::GET, "/v2/{id}"),
        (Method::POST, "/v3/{name=**}:run"),
    ]);
    assert_eq!(
        found(&router, Method::POST, "/v1/messages/42:cancel"),
        (
            "/v1/{name=messages/*}:cancel".to_owned(),
            vec![binding("name", "messages/42", true)]
        )
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/messages/42"),
        (
            "/v1/{name=messages/*}".to_owned(),
            vec![binding("name", "messages/42", true)]
        )
    );
    // The longest verb is tried first; the shorter one still wins where the longer does not match.
    assert_eq!(
        value(&router, Method::POST, "/v1/x:verb:sub"),
        "/v1/*:verb:sub"
    );
    assert_eq!(value(&router, Method::POST, "/v1/x:other:sub"), "/v1/*:sub");
    // Verbless fallback takes the whole segment.
    assert_eq!(
        found(&router, Method::GET, "/v2/a:b").1,
        [binding("id", "a:b", true)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v2/a:cancel").1,
        [binding("id", "a:cancel", true)]
    );
    // An encoded verb text matches; an encoded ':' is not a separator.
    assert_eq!(
        value(&router, Method::POST, "/v1/messages/42:canc%65l"),
        "/v1/{name=messages/*}:cancel"
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/messages/42%3Acancel").1,
        [binding("name", "messages/42:cancel", false)]
    );
    // `**` with a verb, including `**` matching nothing.
    assert_eq!(
        found(&router, Method::POST, "/v3/a/b:run").1,
        [binding("name", "a/b", true)]
    );
    assert_eq!(
        found(&router, Method::POST, "/v3:run").1,
        [binding("name", "", true)]
    );
    assert_eq!(
        error(&router, Method::POST, "/v1/messages:cancel"),
        MatchError::NotFound
    );
}

#[test]
fn method_not_allowed_lists_sorted_unique_methods() {
    let router = router(&[
        (Method::PUT, "/v1/things/{id}"),
        (Method::GET, "/v1/things/{id}"),
        (Method::DELETE, "/v1/things/{name=*}"),
        (Method::GET, "/v1/{rest=**}"),
        (Method::POST, "/v1/things/{id}:archive"),
    ]);
    assert_eq!(
        error(&router, Method::PATCH, "/v1/things/7"),
        MatchError::MethodNotAllowed {
            allowed: vec![Method::DELETE, Method::GET, Method::PUT],
        }
    );
    assert_eq!(
        error(&router, Method::PATCH, "/v1/things/7:archive"),
        MatchError::MethodNotAllowed {
            allowed: vec![Method::DELETE, Method::GET, Method::POST, Method::PUT],
        }
    );
    assert_eq!(
        error(&router, Method::PATCH, "/v1/things/7").to_string(),
        "method not allowed for this path; allowed: DELETE, GET, PUT"
    );
    assert_eq!(
        error(&router, Method::GET, "/v2/things"),
        MatchError::NotFound
    );
}

#[test]
fn literal_segments_match_after_decoding() {
    let router = router(&[
        (Method::GET, "/v1/shelves/{id}"),
        (Method::GET, "/v1/a%2Fb"),
    ]);
    assert_eq!(
        found(&router, Method::GET, "/v1/shel%76es/1").1,
        [binding("id", "1", true)]
    );
    assert_eq!(value(&router, Method::GET, "/v1/a%2fb"), "/v1/a%2Fb");
    assert_eq!(error(&router, Method::GET, "/v1/a/b"), MatchError::NotFound);
    assert_eq!(
        error(&router, Method::GET, "/v1/shelves%2F1"),
        MatchError::NotFound
    );
}

#[test]
fn single_segment_values_are_fully_decoded() {
    let router = router(&[
        (Method::GET, "/v1/{id}"),
        (Method::GET, "/v2/{name=shelves}"),
    ]);
    assert_eq!(
        found(&router, Method::GET, "/v1/a%2Fb").1,
        [binding("id", "a/b", false)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/a%252Fb").1,
        [binding("id", "a%2Fb", false)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/caf%C3%A9%20x").1,
        [binding("id", "café x", false)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/a+b").1,
        [binding("id", "a+b", true)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/100%zz").1,
        [binding("id", "100%zz", true)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v2/shelv%65s").1,
        [binding("name", "shelves", false)]
    );
}

#[test]
fn multi_segment_values_keep_encoded_slashes() {
    let router = router(&[
        (Method::GET, "/v1/{name=shelves/*}"),
        (Method::GET, "/v2/{path=**}"),
    ]);
    assert_eq!(
        found(&router, Method::GET, "/v1/shelves/a%2Fb%20c").1,
        [binding("name", "shelves/a%2Fb c", false)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/shelves/a%2fb").1,
        [binding("name", "shelves/a%2fb", true)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v1/shelves/a%252Fb").1,
        [binding("name", "shelves/a%2Fb", false)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v2/x/y%2Fz/%41").1,
        [binding("path", "x/y%2Fz/A", false)]
    );
}

#[test]
fn invalid_utf8_in_a_value_is_rejected() {
    let router = router(&[
        (Method::GET, "/v1/{id}"),
        (Method::GET, "/v2/{path=**}"),
        (Method::GET, "/v3/%C3%A9"),
    ]);
    assert_eq!(
        error(&router, Method::GET, "/v1/%FF"),
        MatchError::InvalidPath(
            "path variable \"id\" is not valid UTF-8 after percent-decoding".to_owned()
        )
    );
    assert_eq!(
        error(&router, Method::GET, "/v2/a/%C3").to_string(),
        "invalid request path: path variable \"path\" is not valid UTF-8 after percent-decoding"
    );
    // Literal segments compare bytes, so an invalid escape there is just a mismatch.
    assert_eq!(value(&router, Method::GET, "/v3/%c3%a9"), "/v3/%C3%A9");
    assert_eq!(error(&router, Method::GET, "/v3/%FF"), MatchError::NotFound);
}

#[test]
fn trailing_slash_is_an_empty_segment() {
    let router = router(&[
        (Method::GET, "/v1/things"),
        (Method::GET, "/v1/things/{id}"),
        (Method::GET, "/v2/{rest=**}"),
    ]);
    assert_eq!(
        error(&router, Method::GET, "/v1/things/"),
        MatchError::NotFound
    );
    assert_eq!(
        error(&router, Method::GET, "/v1/things//x"),
        MatchError::NotFound
    );
    assert_eq!(
        found(&router, Method::GET, "/v2/a/").1,
        [binding("rest", "a/", true)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v2/").1,
        [binding("rest", "", true)]
    );
    assert_eq!(
        found(&router, Method::GET, "/v2//a").1,
        [binding("rest", "/a", true)]
    );
    assert_eq!(
        error(&router, Method::GET, "v1/things"),
        MatchError::NotFound
    );
    assert_eq!(error(&router, Method::GET, ""), MatchError::NotFound);
}

#[test]
fn several_variables_and_nested_field_paths() {
    let router = router(&[(Method::GET, "/v1/{a}/{b.c=x/*}/{d}/{e}/{f=**}")]);
    let (_, bindings) = found(&router, Method::GET, "/v1/1/x/2/3/4/5/6");
    assert_eq!(
        bindings,
        [
            binding("a", "1", true),
            binding("b.c", "x/2", true),
            binding("d", "3", true),
            binding("e", "4", true),
            binding("f", "5/6", true),
        ]
    );
    let Ok(hit) = router.find(&Method::GET, "/v1/1/x/2/3/4") else {
        panic!("no match")
    };
    assert_eq!(hit.bindings.len(), 5);
    assert_eq!(hit.bindings[4].value, "");
    assert_eq!(hit.bindings.clone().into_vec().len(), 5);
}

#[test]
fn duplicate_routes_are_rejected() {
    let mut router = router(&[(Method::GET, "/v1/{name=shelves/*}:archive")]);
    let Err(error) = router.insert(
        Method::GET,
        template("/v1/shelves/{id}:archive"),
        String::new(),
    ) else {
        panic!("duplicate accepted")
    };
    assert_eq!(
        error.to_string(),
        "route GET /v1/shelves/{id}:archive duplicates GET /v1/{name=shelves/*}:archive: \
         same method and an equivalent template"
    );
    assert_eq!(
        router.insert(
            Method::POST,
            template("/v1/shelves/{id}:archive"),
            String::new()
        ),
        Ok(())
    );
    assert_eq!(
        router.insert(Method::GET, template("/v1/shelves/{id}"), String::new()),
        Ok(())
    );
    assert_eq!(
        router.insert(
            Method::GET,
            template("/v1/shelves/{id}:other"),
            String::new()
        ),
        Ok(())
    );
    assert_eq!(router.len(), 4);
    let order: Vec<(Method, &str)> = router
        .iter()
        .map(|(m, t, _)| (m.clone(), t.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (Method::GET, "/v1/{name=shelves/*}:archive"),
            (Method::POST, "/v1/shelves/{id}:archive"),
            (Method::GET, "/v1/shelves/{id}"),
            (Method::GET, "/v1/shelves/{id}:other"),
        ]
    );
    assert!(!router.is_empty());
    assert!(Router::<()>::new().is_empty());
}

/// The route table the bench uses: 100 services × 10 routes.
fn thousand_routes() -> Vec<(Method, String)> {
    let mut routes = Vec::new();
    for service in 0..100 {
        let prefix = format!("/v1/svc{service}");
        routes.extend([
            (Method::GET, format!("{prefix}/shelves")),
            (Method::POST, format!("{prefix}/shelves")),
            (Method::GET, format!("{prefix}/shelves/{{shelf}}")),
            (Method::DELETE, format!("{prefix}/shelves/{{shelf}}")),
            (Method::GET, format!("{prefix}/{{name=shelves/*/books/*}}")),
            (
                Method::PATCH,
                format!("{prefix}/{{book.name=shelves/*/books/*}}"),
            ),
            (Method::POST, format!("{prefix}/{{name=shelves/*}}:archive")),
            (
                Method::POST,
                format!("{prefix}/{{name=shelves/*/books/*}}:move"),
            ),
            (Method::GET, format!("{prefix}/files/{{path=**}}")),
            (
                Method::GET,
                format!("/v2/svc{service}/{{parent=projects/*}}/items/{{item}}"),
            ),
        ]);
    }
    routes
}

/// A request path for `template` and the bindings it must produce.
fn sample_path(template: &PathTemplate) -> (String, Vec<(String, String)>) {
    let texts: Vec<String> = template
        .segments()
        .iter()
        .enumerate()
        .map(|(index, segment)| match segment {
            Segment::Literal(text) => text.clone(),
            Segment::Wildcard => format!("w{index}"),
            Segment::DoubleWildcard => format!("d{index}/e{index}"),
        })
        .collect();
    let mut path = format!("/{}", texts.join("/"));
    if let Some(verb) = template.verb() {
        path.push(':');
        path.push_str(verb);
    }
    let bindings = template
        .variables()
        .iter()
        .map(|v| {
            (
                v.field_path.to_string(),
                texts[v.start_segment..v.end_segment].join("/"),
            )
        })
        .collect();
    (path, bindings)
}

#[test]
fn every_route_of_a_thousand_is_found_with_exact_bindings() {
    let mut router = Router::new();
    for (index, (method, text)) in thousand_routes().into_iter().enumerate() {
        assert_eq!(router.insert(method, template(&text), index), Ok(()));
    }
    assert_eq!(router.len(), 1000);
    for (index, (method, template, _)) in router.iter().enumerate() {
        let (path, expected) = sample_path(template);
        let Ok(hit) = router.find(method, &path) else {
            panic!("{method} {path} not found")
        };
        assert_eq!(*hit.value, index, "{method} {path}");
        let bindings: Vec<(String, String)> = hit
            .bindings
            .iter()
            .map(|b| (b.field_path.to_string(), b.value.to_string()))
            .collect();
        assert_eq!(bindings, expected, "{method} {path}");
    }
    assert_eq!(
        router.find(&Method::GET, "/v1/svc42/nothing/here").err(),
        Some(MatchError::NotFound)
    );
    assert_eq!(
        router.find(&Method::PUT, "/v1/svc42/shelves/7").err(),
        Some(MatchError::MethodNotAllowed {
            allowed: vec![Method::DELETE, Method::GET],
        })
    );
}

/// Whether `template` matches `path` under some verb split, by a direct linear comparison.
fn naive_matches(template: &PathTemplate, path: &str) -> bool {
    let Some(body) = path.strip_prefix('/') else {
        return false;
    };
    let last_start = body.rfind('/').map_or(0, |i| i + 1);
    match template.verb() {
        None => naive_segments_match(template.segments(), body),
        Some(verb) => body
            .char_indices()
            .filter(|&(i, c)| c == ':' && i >= last_start)
            .any(|(i, _)| {
                let decoded = percent_decode_str(&body[i + 1..]).collect::<Vec<u8>>();
                decoded == verb.as_bytes() && naive_segments_match(template.segments(), &body[..i])
            }),
    }
}

fn naive_segments_match(segments: &[Segment], body: &str) -> bool {
    let parts: Vec<&str> = body.split('/').collect();
    let double = segments.last() == Some(&Segment::DoubleWildcard);
    let fixed = if double {
        segments.len() - 1
    } else {
        segments.len()
    };
    if parts.len() < fixed || (!double && parts.len() != fixed) {
        return false;
    }
    segments[..fixed]
        .iter()
        .zip(&parts)
        .all(|(segment, part)| match segment {
            Segment::Literal(text) => {
                percent_decode_str(part).collect::<Vec<u8>>() == text.as_bytes()
            }
            Segment::Wildcard => !part.is_empty(),
            Segment::DoubleWildcard => true,
        })
}

const PROPERTY_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/v1/{name=shelves/*}"),
    (Method::GET, "/v1/shelves/a"),
    (Method::POST, "/v1/{name=shelves/*}:archive"),
    (Method::POST, "/v1/*:a:b"),
    (Method::POST, "/v1/*:b"),
    (Method::DELETE, "/v1/{x}/{y}"),
    (Method::GET, "/v1/{rest=**}"),
    (Method::PUT, "/v1/shelves/{rest=**}:archive"),
    (Method::GET, "/v2/a%2Fb/{id}"),
    (Method::PATCH, "/{a}/shelves/{b}"),
];

fn path_strategy() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("v1".to_owned()),
        Just("v2".to_owned()),
        Just("shelves".to_owned()),
        Just("shel%76es".to_owned()),
        Just("a".to_owned()),
        Just("a%2Fb".to_owned()),
        Just(String::new()),
        Just("%FF".to_owned()),
        Just("x:archive".to_owned()),
        Just("x:a:b".to_owned()),
        Just(":b".to_owned()),
        "[a-z:%2F+é]{0,5}",
    ];
    prop_oneof![
        prop::collection::vec(segment, 0..6)
            .prop_map(|segments| format!("/{}", segments.join("/"))),
        ".{0,24}",
    ]
}

fn method_strategy() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
    ])
}

proptest! {
    #[test]
    fn random_paths_agree_with_a_naive_matcher(path in path_strategy(), method in method_strategy()) {
        let router = router(PROPERTY_ROUTES);
        let matching: Vec<(&Method, &PathTemplate)> = router
            .iter()
            .filter(|(_, template, _)| naive_matches(template, &path))
            .map(|(m, t, _)| (m, t))
            .collect();
        match router.find(&method, &path) {
            Ok(hit) => {
                prop_assert!(matching.iter().any(|(m, t)| **m == method && *t == hit.template));
                let fields: Vec<&FieldPath> = hit.bindings.iter().map(|b| b.field_path).collect();
                let expected: Vec<&FieldPath> = hit.template.variables().iter().map(|v| &v.field_path).collect();
                prop_assert_eq!(fields, expected);
            }
            Err(MatchError::NotFound) => prop_assert!(matching.is_empty()),
            Err(MatchError::MethodNotAllowed { allowed }) => {
                let mut expected: Vec<Method> = matching.iter().map(|(m, _)| (*m).clone()).collect();
                expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                expected.dedup();
                prop_assert!(!allowed.contains(&method));
                prop_assert_eq!(allowed, expected);
            }
            Err(MatchError::InvalidPath(message)) => {
                prop_assert!(matching.iter().any(|(m, _)| **m == method));
                prop_assert!(message.starts_with("path variable \""));
            }
        }
    }
}
