//! The hook's decisions, without sockets: requirements, scopes, forwarded claims, client IPs.

use super::config::{ApiKeyConfig, ApiKeysConfig, AuthRuleConfig};
use super::*;

fn hex_sha256(key: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn policies(default_auth: Option<RouteAuthConfig>) -> Policies {
    let config = PoliciesConfig {
        default_auth,
        api_keys: Some(ApiKeysConfig {
            keys: vec![
                ApiKeyConfig {
                    name: "reader".into(),
                    sha256: hex_sha256("r-key"),
                    scopes: vec![],
                },
                ApiKeyConfig {
                    name: "writer".into(),
                    sha256: hex_sha256("w-key"),
                    scopes: vec!["write".into()],
                },
            ],
            ..Default::default()
        }),
        forward_claims: [("sub".to_owned(), "x-user-id".to_owned())].into(),
        trusted_proxies: vec!["10.0.0.0/8".into()],
        ..Default::default()
    };
    Policies::build(&config, Path::new(".")).unwrap()
}

fn caller(key: Option<&str>) -> Caller {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        headers.insert("x-api-key", key.parse().unwrap());
    }
    Caller {
        address: Some("127.0.0.1:40000".parse().unwrap()),
        headers,
        ..Caller::default()
    }
}

fn admit(
    policies: &Policies,
    route: &RoutePolicy,
    caller: &Caller,
) -> (Result<(), Status>, HeaderMap) {
    let mut metadata = HeaderMap::new();
    metadata.insert("x-user-id", "forged".parse().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let key = RequestKey::Method {
        name: "pkg.Service/Method".into(),
    };
    let result = runtime
        .block_on(policies.admit(route, &key, caller, &mut metadata))
        .map(drop);
    (result, metadata)
}

#[test]
fn a_public_route_ignores_credentials_and_strips_forged_identity_metadata() {
    let policies = policies(None);
    let (result, metadata) = admit(&policies, &RoutePolicy::default(), &caller(Some("nope")));
    assert!(result.is_ok());
    assert!(metadata.get("x-user-id").is_none());
}

#[test]
fn the_default_auth_requires_a_valid_key_and_forwards_its_name() {
    let policies = policies(Some(RouteAuthConfig::Word(AuthWord::Any)));
    let route = RoutePolicy::default();
    let (missing, _) = admit(&policies, &route, &caller(None));
    let missing = missing.unwrap_err();
    assert_eq!(missing.code(), crate::model::Code::Unauthenticated);
    assert_eq!(
        missing.message(),
        "this route requires authentication: an API key in the x-api-key header"
    );
    let (invalid, _) = admit(&policies, &route, &caller(Some("nope")));
    assert_eq!(
        invalid.unwrap_err().message(),
        "invalid credentials: the API key is not valid"
    );
    let (ok, metadata) = admit(&policies, &route, &caller(Some("r-key")));
    assert!(ok.is_ok());
    assert_eq!(metadata.get("x-user-id").unwrap(), "reader");
}

#[test]
fn scopes_are_checked_after_authentication() {
    let policies = policies(None);
    let route = RoutePolicy::build(
        Some(&RouteAuthConfig::Rule(AuthRuleConfig {
            schemes: vec![Scheme::ApiKey],
            scopes: vec!["write".into()],
            methods: vec![],
        })),
        None,
        None,
        false,
    )
    .unwrap();
    let (denied, _) = admit(&policies, &route, &caller(Some("r-key")));
    let denied = denied.unwrap_err();
    assert_eq!(denied.code(), crate::model::Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "the caller lacks the scope 'write' this route requires"
    );
    assert!(admit(&policies, &route, &caller(Some("w-key"))).0.is_ok());
    assert_eq!(policies.describe(&route, None), "api_key+scopes:write");
    assert_eq!(policies.describe(&RoutePolicy::default(), None), "PUBLIC");
}

#[test]
fn topic_routes_take_no_auth_key() {
    let auth = RouteAuthConfig::Word(AuthWord::Any);
    assert!(RoutePolicy::build(Some(&auth), None, None, true).is_err());
    let policies = policies(Some(auth));
    let topic = RoutePolicy::build(None, None, None, true).unwrap();
    assert!(admit(&policies, &topic, &Caller::default()).0.is_ok());
    assert_eq!(policies.describe(&topic, None), "broker");
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let policies = policies(None);
    let mut from_proxy = caller(None);
    from_proxy.address = Some("10.1.2.3:40000".parse().unwrap());
    from_proxy
        .headers
        .insert("x-forwarded-for", "198.51.100.7, 10.9.9.9".parse().unwrap());
    assert_eq!(
        policies.trusted.client_ip(&from_proxy),
        Some("198.51.100.7".parse().unwrap())
    );
    let mut direct = from_proxy.clone();
    direct.address = Some("192.0.2.1:40000".parse().unwrap());
    assert_eq!(
        policies.trusted.client_ip(&direct),
        Some("192.0.2.1".parse().unwrap())
    );
    assert!(TrustedProxies::build(&["10.0.0.0/33".into(), "nope".into()]).is_err());
}

#[test]
fn credentials_without_a_configured_kind_are_refused_at_load() {
    let config = PoliciesConfig {
        default_auth: Some(RouteAuthConfig::Word(AuthWord::Any)),
        ..Default::default()
    };
    assert_eq!(
        Policies::build(&config, Path::new(".")).unwrap_err(),
        vec!["policies: default_auth requires credentials, but none of api_keys, jwt and introspection is configured".to_owned()]
    );
}

#[test]
fn a_rule_listing_methods_leaves_the_other_methods_public() {
    let policies = policies(Some(RouteAuthConfig::Rule(AuthRuleConfig {
        schemes: vec![],
        scopes: vec![],
        methods: vec!["post".into(), "DELETE".into()],
    })));
    let route = RoutePolicy::default();
    assert_eq!(policies.describe(&route, Some(&Method::GET)), "PUBLIC");
    assert_eq!(policies.describe(&route, Some(&Method::POST)), "any");
    assert_eq!(policies.describe(&route, None), "PUBLIC");
}

#[test]
fn bearer_tokens_with_a_jwt_shape_go_to_jwt_and_others_to_introspection() {
    let header = "eyJhbGciOiJSUzI1NiJ9"; // {"alg":"RS256"}
    assert!(jwt::looks_like_jwt(&format!("{header}.e30.c2ln")));
    assert!(jwt::looks_like_jwt(&format!("{header}.e30.")));
    assert!(!jwt::looks_like_jwt("2YotnFZFEjr1zCsicMWpAA"));
    assert!(!jwt::looks_like_jwt("a.b.c"));
    assert!(!jwt::looks_like_jwt(&format!("{header}.e30")));
    assert!(!jwt::looks_like_jwt(&format!("{header}.e30.c2ln.more")));
}
