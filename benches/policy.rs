//! The cost of the policy hook per request (`Policies::admit`), as the pipeline calls it after
//! routing: no policy, an API key, a cached JWT plus a local rate limit, and the first
//! (uncached) verification of each JWT algorithm family. Figures: BENCHMARKS.md.
//!
//! `cargo bench --bench policy`

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Uri};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use polygate::model::{Caller, RequestKey};
use polygate::policy::config::{
    AuthWord, PoliciesConfig, RateKey, RateLimitConfig, RouteAuthConfig,
};
use polygate::policy::{Policies, RoutePolicy};

const HS_SECRET: &str = "a-shared-secret-of-the-bench";

fn keys_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys"))
}

fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn policies(cache_size: usize) -> Policies {
    let dir = keys_dir();
    let jwks = dir.join(format!("bench-jwks-{}.json", std::process::id()));
    let jwk = |key: EncodingKey, alg: Algorithm, kid: &str| {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, alg).unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk
    };
    let set = jsonwebtoken::jwk::JwkSet {
        keys: vec![
            jwk(signing_key(Algorithm::RS256), Algorithm::RS256, "rs"),
            jwk(signing_key(Algorithm::ES256), Algorithm::ES256, "es"),
            jwk(signing_key(Algorithm::EdDSA), Algorithm::EdDSA, "ed"),
            jwk(signing_key(Algorithm::HS256), Algorithm::HS256, "hs"),
        ],
    };
    std::fs::write(&jwks, serde_json::to_string(&set).unwrap()).unwrap();
    let yaml = format!(
        "api_keys:\n  keys:\n    - {{name: bench, sha256: {}}}\njwt:\n  issuers: [https://issuer.bench]\n  audiences: [bench]\n  jwks_file: {}\n  cache_size: {cache_size}\nforward_claims: {{sub: x-user-id}}\n",
        sha256("bench-key"),
        jwks.display()
    );
    let config: PoliciesConfig = serde_saphyr::from_str(&yaml).unwrap();
    let built = Policies::build(&config, dir).unwrap();
    std::fs::remove_file(jwks).unwrap();
    built
}

fn signing_key(algorithm: Algorithm) -> EncodingKey {
    let pem = |name: &str| std::fs::read(keys_dir().join(name)).unwrap();
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem("rsa.pem")).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem("ec256.pem")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem("ed25519.pem")).unwrap(),
        _ => EncodingKey::from_secret(HS_SECRET.as_bytes()),
    }
}

fn token(algorithm: Algorithm, kid: &str) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.into());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": "user-1", "iss": "https://issuer.bench", "aud": "bench", "exp": exp, "scope": "read write"});
    encode(&header, &claims, &signing_key(algorithm)).unwrap()
}

fn caller(header: Option<(&'static str, String)>) -> Caller {
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("bench/1"));
    headers.insert("accept", HeaderValue::from_static("application/json"));
    if let Some((name, value)) = header {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    Caller {
        address: Some("127.0.0.1".parse().unwrap()),
        headers,
        ..Caller::default()
    }
}

fn admit(policies: &Policies, route: &RoutePolicy, key: &RequestKey, caller: &Caller) {
    let mut metadata = HeaderMap::new();
    let admitted = policies
        .admit(route, key, caller, &mut metadata)
        .now_or_never()
        .expect("no await without a JWKS URL");
    drop(black_box(admitted.unwrap()));
    black_box(metadata);
}

fn bench(c: &mut Criterion) {
    let key = RequestKey::WebSocket {
        uri: Uri::from_static("/v1/shelves/1?view=full"),
    };
    let public = RoutePolicy::build(
        Some(&RouteAuthConfig::Word(AuthWord::None)),
        None,
        None,
        false,
    )
    .unwrap();
    let any = RoutePolicy::build(
        Some(&RouteAuthConfig::Word(AuthWord::Any)),
        None,
        None,
        false,
    )
    .unwrap();
    let limit = RateLimitConfig {
        rate: 4_000_000_000,
        per: None,
        burst: None,
        key: Some(RateKey::Caller),
        name: None,
        shared: false,
        fail: None,
    };
    let any_limited = RoutePolicy::build(
        Some(&RouteAuthConfig::Word(AuthWord::Any)),
        Some(&limit),
        None,
        false,
    )
    .unwrap();
    let cached = policies(10_000);
    let uncached = policies(0);

    let mut group = c.benchmark_group("policy_admit");
    let anonymous = caller(None);
    group.bench_function("none", |b| {
        b.iter(|| admit(&cached, &public, &key, &anonymous))
    });
    let keyed = caller(Some(("x-api-key", "bench-key".into())));
    group.bench_function("api_key", |b| b.iter(|| admit(&cached, &any, &key, &keyed)));
    group.bench_function("api_key+rate_limit", |b| {
        b.iter(|| admit(&cached, &any_limited, &key, &keyed))
    });
    for (algorithm, kid, name) in [
        (Algorithm::RS256, "rs", "RS256"),
        (Algorithm::ES256, "es", "ES256"),
    ] {
        let bearer = caller(Some((
            "authorization",
            format!("Bearer {}", token(algorithm, kid)),
        )));
        group.bench_function(format!("jwt_cached_{name}+rate_limit"), |b| {
            b.iter(|| admit(&cached, &any_limited, &key, &bearer))
        });
    }
    for (algorithm, kid, name) in [
        (Algorithm::RS256, "rs", "RS256"),
        (Algorithm::ES256, "es", "ES256"),
        (Algorithm::EdDSA, "ed", "EdDSA"),
        (Algorithm::HS256, "hs", "HS256"),
    ] {
        let bearer = caller(Some((
            "authorization",
            format!("Bearer {}", token(algorithm, kid)),
        )));
        group.bench_function(format!("jwt_first_verification_{name}"), |b| {
            b.iter(|| admit(&uncached, &any, &key, &bearer))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
