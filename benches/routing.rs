//! Route matching among 1,000 `google.api.http` routes (100 services × 10 routes), and among
//! 1,000 topic templates (100 sites × 10), the MQTT frontend's lookup per message.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::Method;
use polygate::mapping::matcher::{MatchError, Router};
use polygate::mapping::template::PathTemplate;
use polygate::mapping::topic::{TopicRouter, TopicTemplate};

/// Ten routes per service mixing literals, `{var}`, multi-segment variables, `**` and verbs.
fn routes_of(service: usize) -> [(Method, String); 10] {
    let prefix = format!("/v1/svc{service}");
    [
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
    ]
}

fn router() -> Router<usize> {
    let mut router = Router::new();
    for (index, (method, text)) in (0..100).flat_map(routes_of).enumerate() {
        let template = PathTemplate::parse(&text).unwrap_or_else(|error| panic!("{error}"));
        router
            .insert(method, template, index)
            .unwrap_or_else(|error| panic!("{error}"));
    }
    assert_eq!(router.len(), 1000);
    router
}

/// Ten topic templates per site mixing literals, named levels, `+` and `#`.
fn topics_of(site: usize) -> [String; 10] {
    [
        format!("sites/s{site}/devices/{{device_id}}/telemetry"),
        format!("sites/s{site}/devices/{{device_id}}/status"),
        format!("sites/s{site}/devices/{{device_id}}/commands/{{command}}"),
        format!("sites/s{site}/lines/{{line}}/+/alarm"),
        format!("sites/s{site}/lines/{{line}}/counters"),
        format!("sites/s{site}/energy/{{meter}}"),
        format!("sites/s{site}/logs/#"),
        format!("plants/p{site}/{{area}}/{{cell}}/temperature"),
        format!("plants/p{site}/{{area}}/{{cell}}/humidity"),
        format!("plants/p{site}/events/{{kind}}"),
    ]
}

fn topic_router() -> TopicRouter<usize> {
    let mut router = TopicRouter::new();
    for (index, text) in (0..100).flat_map(topics_of).enumerate() {
        let template = TopicTemplate::parse(&text).unwrap_or_else(|error| panic!("{error}"));
        router
            .insert(template, index)
            .unwrap_or_else(|existing| panic!("{text} duplicates {existing}"));
    }
    assert_eq!(router.len(), 1000);
    router
}

fn bench_topics(c: &mut Criterion) {
    let router = topic_router();
    let cases = [
        ("hit_1_binding", "sites/s57/devices/dev-0042/telemetry", 1),
        (
            "hit_binding_and_plus",
            "sites/s57/lines/l3/press-2/alarm",
            1,
        ),
        ("hit_rest", "sites/s57/logs/2026/12/04/app", 0),
        ("hit_2_bindings", "plants/p57/north/c7/temperature", 2),
    ];
    // Fail loudly if a case stops measuring what its name says.
    for (name, topic, captures) in &cases {
        let found = router
            .find(topic)
            .unwrap_or_else(|| panic!("{name} misses"));
        assert_eq!(found.captures.len(), *captures, "{name}");
    }
    assert!(router.find("sites/s57/nothing/here").is_none());
    let mut group = c.benchmark_group("topics_1000_templates");
    for (name, topic, _) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(router.find(black_box(topic)).is_some()))
        });
    }
    group.bench_function("miss", |b| {
        b.iter(|| black_box(router.find(black_box("sites/s57/nothing/here")).is_none()))
    });
    group.finish();
}

fn bench_routing(c: &mut Criterion) {
    let router = router();
    let cases: [(&str, Method, &str); 5] = [
        (
            "hit_2_bindings",
            Method::GET,
            "/v2/svc57/projects/p-123/items/item-9",
        ),
        (
            "hit_verb_multi_segment",
            Method::POST,
            "/v1/svc57/shelves/s1/books/b2:move",
        ),
        (
            "hit_deep_double_wildcard",
            Method::GET,
            "/v1/svc57/files/a/b/c/d/e/f/g/report.txt",
        ),
        ("miss_404", Method::GET, "/v1/svc57/nothing/here"),
        ("miss_405", Method::PUT, "/v1/svc57/shelves/s1"),
    ];
    // Fail loudly if a case stops measuring what its name says.
    assert_eq!(
        router
            .find(&Method::GET, cases[0].2)
            .map(|hit| hit.bindings.len()),
        Ok(2)
    );
    assert!(router.find(&cases[1].1, cases[1].2).is_ok());
    assert!(router.find(&cases[2].1, cases[2].2).is_ok());
    assert_eq!(
        router.find(&cases[3].1, cases[3].2).err(),
        Some(MatchError::NotFound)
    );
    assert!(matches!(
        router.find(&cases[4].1, cases[4].2),
        Err(MatchError::MethodNotAllowed { .. })
    ));

    let mut group = c.benchmark_group("routing_1000_routes");
    for (name, method, path) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(router.find(black_box(method), black_box(path))))
        });
    }
    group.finish();

    c.bench_function("parse_template", |b| {
        b.iter(|| PathTemplate::parse(black_box("/v1/{name=shelves/*/books/*}:move")).is_ok())
    });
}

criterion_group!(benches, bench_routing, bench_topics);
criterion_main!(benches);
