use super::*;
use crate::cache::key::KeyParts;

fn key() -> CacheKey {
    KeyParts {
        route: "GET /v1/items/{sku}",
        method: "GET",
        captures: &["7"],
        query: None,
        headers: &HeaderMap::new(),
        vary_headers: &[],
        principal: None,
    }
    .key()
}

fn entry(upstream: Option<Box<UpstreamReply>>) -> Entry {
    let mut metadata = HeaderMap::new();
    metadata.insert("x-stock", HeaderValue::from_static("4"));
    Entry {
        answer: Some(StoredAnswer::Success {
            metadata,
            message: Payload::Json(r#"{"sku":"7"}"#.into()),
            trailers: HeaderMap::new(),
            upstream,
        }),
        etag: HeaderValue::from_static("\"pg-1\""),
        stored_at: Instant::now(),
        fresh: Duration::from_secs(60),
        stale_while_revalidate: Duration::from_secs(5),
        stale_if_error: Duration::from_secs(30),
        route: "GET /v1/items/{sku}".into(),
        values: Box::new([("sku".into(), "7".into())]),
        tags: Box::new(["item:7".into()]),
        weight: 300,
        counters: Arc::new(RouteCounters::new("GET", "/v1/items/{sku}")),
    }
}

#[test]
fn an_entry_reads_back_as_written_with_its_age() {
    // Whole milliseconds, as the format keeps them.
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let instant = Instant::now();
    let reply = UpstreamReply {
        status: 203,
        headers: HeaderMap::new(),
        location: Some("/v1/items/7".into()),
        foreign_location: None,
        body: Some(Payload::Raw {
            content_type: "text/plain".into(),
            data: "hi".into(),
        }),
        pass_through: true,
    };
    let written = entry(Some(Box::new(reply.clone())));
    let value = encode(&written, now, instant).unwrap();
    assert_eq!(value[0], VERSION);
    let counters = written.counters.clone();
    let later = now + Duration::from_secs(2);
    let read = decode(
        &value,
        &key(),
        &counters,
        later,
        instant + Duration::from_secs(5),
    )
    .unwrap();
    let Some(StoredAnswer::Success {
        metadata,
        message,
        upstream,
        ..
    }) = &read.answer
    else {
        panic!("a success")
    };
    assert_eq!(metadata.get("x-stock").unwrap(), "4");
    assert_eq!(message, &Payload::Json(r#"{"sku":"7"}"#.into()));
    let upstream = upstream.as_deref().unwrap();
    assert_eq!(upstream.status, 203);
    assert_eq!(upstream.location, reply.location);
    assert_eq!(upstream.body, reply.body);
    assert!(upstream.pass_through);
    assert_eq!(read.etag, "\"pg-1\"");
    assert_eq!(read.fresh, Duration::from_secs(60));
    assert_eq!(read.stale_while_revalidate, Duration::from_secs(5));
    assert_eq!(read.stale_if_error, Duration::from_secs(30));
    assert_eq!(&*read.route, "GET /v1/items/{sku}");
    assert_eq!(&*read.values, &[("sku".into(), "7".into())]);
    assert_eq!(&*read.tags, &[Box::<str>::from("item:7")]);
    // Stored 2 s before `later` by the wall clock.
    assert_eq!(
        read.age(instant + Duration::from_secs(5)),
        Duration::from_secs(2)
    );
}

#[test]
fn unknown_versions_and_truncated_values_are_misses() {
    let now = SystemTime::now();
    let instant = Instant::now();
    let written = entry(None);
    let mut value = encode(&written, now, instant).unwrap();
    let counters = written.counters.clone();
    assert!(decode(&value[..value.len() - 1], &key(), &counters, now, instant).is_none());
    value[0] = 2;
    assert!(decode(&value, &key(), &counters, now, instant).is_none());
    assert_eq!(matches_header(&value, &Purge::default()), None);
}

#[test]
fn negative_entries_and_markers_stay_local() {
    let mut negative = entry(None);
    negative.answer = Some(StoredAnswer::Negative(crate::model::Status::not_found(
        "gone",
    )));
    assert!(encode(&negative, SystemTime::now(), Instant::now()).is_none());
    negative.answer = None;
    assert!(encode(&negative, SystemTime::now(), Instant::now()).is_none());
}

#[test]
fn purges_pick_values_by_route_values_and_tag() {
    let value = encode(&entry(None), SystemTime::now(), Instant::now()).unwrap();
    let purge = |route: Option<&str>, values: &[(&str, &str)], tag: Option<&str>| Purge {
        route: route.map(str::to_owned),
        values: values
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        tag: tag.map(str::to_owned),
    };
    assert_eq!(matches_header(&value, &purge(None, &[], None)), Some(true));
    let route = Some("GET /v1/items/{sku}");
    assert_eq!(
        matches_header(&value, &purge(route, &[("sku", "7")], None)),
        Some(true)
    );
    assert_eq!(
        matches_header(&value, &purge(route, &[("sku", "8")], None)),
        Some(false)
    );
    assert_eq!(
        matches_header(&value, &purge(Some("GET /x"), &[], None)),
        Some(false)
    );
    assert_eq!(
        matches_header(&value, &purge(None, &[], Some("item:7"))),
        Some(true)
    );
    assert_eq!(
        matches_header(&value, &purge(None, &[], Some("item:8"))),
        Some(false)
    );
}

#[test]
fn glob_characters_in_the_prefix_are_escaped() {
    assert_eq!(glob_escape(b"a*b?[c]\\"), b"a\\*b\\?\\[c\\]\\\\".to_vec());
}
