//! Issue 5, item 2: WS-Security UsernameToken on SOAP calls — the password from the environment
//! (text) or a file (digest), never from the mapping; a fresh nonce per call, verified by the
//! service.

use serde_json::json;

use crate::support::http_server::{Answer, HttpServer, Recorded};
use crate::support::legacy::{answering, assert_xml_eq, envelope11, gateway, SOAP11};
use crate::support::{xml_tree, Gateway};

const CALCULATOR: &str = r#"
xml_mapping:
  default_namespace: http://tempuri.org/
  types:
    Add/intA: int
    Add/intB: int
    AddResponse/AddResult: int
  order:
    Add: [intA, intB]
routes:
  - post: /v1/calc/add
    backend: calc
    body: "*"
    soap:
      operation: Add
      action: http://tempuri.org/Add
"#;

fn add_response() -> String {
    envelope11(r#"<AddResponse xmlns="http://tempuri.org/"><AddResult>5</AddResult></AddResponse>"#)
}

const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PROFILE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0";

#[tokio::test]
async fn ws_security_sends_the_password_from_the_environment_as_text() {
    std::env::set_var("POLYGATE_IT_WSSE_PASSWORD", "s3cr<t");
    let service = answering(Answer::xml(add_response())).await;
    let backends = format!(
        "  calc:\n    soap:\n      url: {}/calc\n      ws_security:\n        username: svc\n        password_env: POLYGATE_IT_WSSE_PASSWORD\n",
        service.url()
    );
    let gateway = gateway(&backends, CALCULATOR).await;
    let response = gateway
        .client
        .json("POST", "/v1/calc/add", json!({"intA": 2, "intB": 3}))
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let received = service.last_request();
    let tree = xml_tree::parse(received.text()).unwrap();
    let token = tree.at(&["Header", "Security", "UsernameToken"]).unwrap();
    let nonce = token.text_at(&["Nonce"]);
    let created = token.text_at(&["Created"]);
    assert_eq!(base64_len(&nonce), 16, "{nonce}");
    assert_eq!(created.len(), 20, "{created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    assert_xml_eq(
        received.text(),
        &format!(
            r#"<s:Envelope xmlns:s="{SOAP11}"><s:Header><wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}" s:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>svc</wsse:Username><wsse:Password Type="{PROFILE}#PasswordText">s3cr&lt;t</wsse:Password><wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{nonce}</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header><s:Body><Add xmlns="http://tempuri.org/"><intA>2</intA><intB>3</intB></Add></s:Body></s:Envelope>"#
        ),
    );
}

fn base64_len(text: &str) -> usize {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(|b| b.len())
        .unwrap_or(0)
}

#[tokio::test]
async fn ws_security_password_digests_from_a_file_are_verified_by_the_service() {
    let service = HttpServer::start(|request: Recorded| async move {
        use base64::Engine as _;
        let tree = xml_tree::parse(request.text()).unwrap();
        let token = tree.at(&["Header", "Security", "UsernameToken"]).unwrap();
        let nonce = base64::engine::general_purpose::STANDARD.decode(token.text_at(&["Nonce"])).unwrap();
        let mut input = nonce;
        input.extend_from_slice(token.text_at(&["Created"]).as_bytes());
        input.extend_from_slice(b"geheim");
        let expected = base64::engine::general_purpose::STANDARD
            .encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input));
        let password = token.child("Password").unwrap();
        if token.text_at(&["Password"]) == expected && password.attribute("Type") == Some(&*format!("{PROFILE}#PasswordDigest")) {
            Answer::xml(add_response())
        } else {
            Answer::xml(envelope11(r#"<soap:Fault><faultcode xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">wsse:FailedAuthentication</faultcode><faultstring>bad digest</faultstring></soap:Fault>"#)).status(500)
        }
    })
    .await;
    let gateway = Gateway::start(
        &format!(
            "http:\n  listen: 127.0.0.1:0\nbackends:\n  calc:\n    soap:\n      url: {}/calc\n      ws_security:\n        username: svc\n        password_file: secrets/calc-password\n        password_type: digest\nmappings: [legacy.yaml]\n",
            service.url()
        ),
        &[("legacy.yaml", CALCULATOR), ("secrets/calc-password", "geheim\n")],
    )
    .await;
    for _ in 0..2 {
        let response = gateway
            .client
            .json("POST", "/v1/calc/add", json!({"intA": 2, "intB": 3}))
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json(), json!({"AddResult": 5}));
    }
    let nonces: Vec<String> = service
        .requests()
        .iter()
        .map(|r| {
            xml_tree::parse(r.text()).unwrap().text_at(&[
                "Header",
                "Security",
                "UsernameToken",
                "Nonce",
            ])
        })
        .collect();
    assert_ne!(nonces[0], nonces[1], "every call has a fresh nonce");
}
