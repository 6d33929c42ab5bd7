//! The quickstart's legacy SOAP backend: the demo config and `mappings/warehouse.yaml` serve the
//! Warehouse as REST resources, faults mapped by the demo's `fault_codes`.

use serde_json::json;

use crate::support::warehouse::{start_warehouse, FIRST_ORDER_ID};
use crate::support::{demo_config, Client};

#[tokio::test]
async fn the_demo_config_serves_the_warehouse_as_rest_resources() {
    polygate::install_crypto_provider();
    let warehouse = start_warehouse("127.0.0.1:0").await.unwrap();
    let mut config = demo_config();
    let Some(polygate::backends::BackendConfig::Soap(soap)) = config.backends.get_mut("warehouse")
    else {
        panic!("the demo config has a SOAP backend named warehouse");
    };
    soap.url = format!("{}/warehouse", warehouse.url());
    let running = polygate::app::start(polygate::app::build(&config).await.unwrap())
        .await
        .unwrap();
    let client = Client::new(format!("http://{}", running.local_addr("http").unwrap()))
        .with_header("x-api-key", "demo-key");

    let item = client.get("/v1/warehouse/items/KET-1002").await;
    assert_eq!(
        item.json(),
        json!({"sku": "KET-1002", "name": "Pour-over kettle", "category": "kitchen", "price": "39.00", "stock": 3, "tag": ["steel"]})
    );
    let office = client.get("/v1/warehouse/items?category=office").await;
    assert_eq!(office.json()["total"], 1);
    assert_eq!(office.json()["item"][0]["sku"], "LMP-2001");
    let order = json!({
        "customer": {"name": "Ada", "email": "ada@example.com",
                     "address": {"street": "1 Loop Rd", "city": "Lyon", "zip": "01234", "country": "FR"}},
        "line": [{"sku": "CUP-1001", "quantity": 2}]
    });
    let placed = client
        .json("POST", "/v1/warehouse/orders", order.clone())
        .await;
    assert_eq!(
        placed.json(),
        json!({"orderId": FIRST_ORDER_ID.to_string(), "total": "49.80", "status": "ACCEPTED", "estimatedShipDate": "2026-12-01"})
    );
    let mut too_many = order;
    too_many["line"][0]["quantity"] = json!(50);
    let refused = client.json("POST", "/v1/warehouse/orders", too_many).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["code"], 9);
    assert_eq!(refused.json()["message"], "only 12 of CUP-1001 in stock");
    let cancelled = client
        .send(
            "DELETE",
            &format!("/v1/warehouse/orders/{FIRST_ORDER_ID}?reason=duplicate"),
            &[],
            "",
        )
        .await;
    assert_eq!(cancelled.json(), json!({"cancelled": true}));
    let missing = client
        .send("DELETE", "/v1/warehouse/orders/42?reason=x", &[], "")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "order 42 does not exist");
    running.shutdown().await;
}
