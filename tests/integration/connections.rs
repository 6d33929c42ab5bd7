//! Item 8: one reused HTTP/2 connection per backend, and TLS with a configured CA.

use serde_json::json;

use crate::support::{scratch_dir, test_backend, test_config, to_json, Gateway};

#[tokio::test]
async fn sequential_and_concurrent_calls_share_one_backend_connection() {
    let backend = test_backend().start().await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    for i in 0..5 {
        assert_eq!(
            gateway.client.get(&format!("/v1/echo/s{i}")).await.status,
            200
        );
    }
    let concurrent = (0..20).map(|i| {
        let client = gateway.client.clone();
        tokio::spawn(async move { client.get(&format!("/v1/echo/c{i}")).await.status })
    });
    for status in futures_util::future::join_all(concurrent).await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(backend.calls().len(), 25);
    assert_eq!(backend.connections_accepted(), 1);
}

#[tokio::test]
async fn a_tls_backend_is_reached_through_a_configured_ca() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "polygate test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();

    let backend = test_backend()
        .with_tls(&server_cert.pem(), &server_key.serialize_pem())
        .start()
        .await;
    assert!(backend.url().starts_with("https://localhost:"));
    let dir = scratch_dir();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let config = test_config(&backend.url(), "").replace(
        "      schema:",
        &format!(
            "      ca_file: {}\n      schema:",
            dir.join("ca.pem").display()
        ),
    );
    let gateway = Gateway::start(&config, &[]).await;
    let response = gateway.client.get("/v1/echo/over-tls").await;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "over-tls"})
    );

    // Without the CA the system roots do not trust the certificate: a clear 503.
    let untrusted = Gateway::start(&test_config(&backend.url(), ""), &[]).await;
    let response = untrusted.client.get("/v1/echo/over-tls").await;
    assert_eq!(response.status, 503);
    let message = response.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("backend 'test' is unreachable: TLS handshake failed: "),
        "{message}"
    );
    assert_eq!(backend.calls().len(), 1);
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_backend_call() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
    let started = std::sync::Mutex::new(Some(started_tx));
    let dropped = std::sync::Mutex::new(Some(dropped_tx));
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Slow", move |_| {
            let started = started.lock().unwrap().take();
            // Dropped (and so sent) only when the call's future is dropped, i.e. cancelled.
            let guard = dropped.lock().unwrap().take();
            async move {
                let _guard = guard;
                if let Some(started) = started {
                    let _ = started.send(());
                }
                std::future::pending::<()>().await;
                unreachable!()
            }
        })
        .start()
        .await;
    let gateway = Gateway::for_test_backend(&backend, "").await;
    let client = gateway.client.clone();
    let request = tokio::spawn(async move { client.get("/v1/slow").await });
    started_rx.await.expect("the call reached the backend");
    request.abort();
    // The receiver completes (with an error) once the backend dropped the call; the bound only
    // turns a regression into a failure instead of a hang.
    let dropped = tokio::time::timeout(std::time::Duration::from_secs(30), dropped_rx).await;
    assert!(
        matches!(dropped, Ok(Err(_))),
        "the backend call was not cancelled"
    );
    assert_eq!(gateway.client.get("/v1/echo/after").await.status, 200);
}
