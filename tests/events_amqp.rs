//! Events delivered to AMQP destinations on the test broker, which answer on
//! the `reply_to` queue: a destination whose exchange is missing fails alone,
//! its neighbour keeps receiving. This watches the broker, so it runs with
//! one (PostgreSQL); `events.rs` checks the events themselves, delivered over
//! HTTP, on both backends.

use eai_protocol::{InboundSummary, Receipt, ReceiptOrigin};
use eai_tests::{spawn_app, TestApp};
use eai_transport::lapin::options::BasicPublishOptions;
use eai_transport::lapin::{BasicProperties, Channel};
use eai_transport::topology::declare_private_queue;
use serde_json::{json, Value};

/// A private queue and an AMQP destination (default exchange) delivering `transaction` into it.
async fn destination_queue(app: &TestApp, name: &str, transaction: &str) -> (Channel, String) {
    let channel = app.channel().await;
    let queue = declare_private_queue(&channel).await.expect("queue");
    let destination = json!({
        "name": name, "company": "T1", "branch": "D MG 01", "transaction": transaction,
        "kind": "amqp", "exchange": "", "routing_key": queue, "timeout_ms": 60000});
    app.import(&json!({ "destinations": [destination] })).await;
    (channel, queue)
}

/// Takes the next event from `queue` and answers it with an ok receipt on its
/// `reply_to`, as a destination does (the sender holds a document's next
/// message until the previous one is settled).
async fn next_envelope(app: &TestApp, channel: &Channel, queue: &str) -> Value {
    let message = app
        .next_message(channel, queue)
        .await
        .expect("an event arrives");
    let envelope: Value = serde_json::from_slice(&message.delivery.data).expect("event JSON");
    let reply_to = message
        .delivery
        .properties
        .reply_to()
        .as_ref()
        .expect("events ask for a receipt")
        .to_string();
    let inbound = InboundSummary {
        uuid: envelope["Header"]["UUID"]
            .as_str()
            .expect("uuid")
            .to_owned(),
        transaction: envelope["Header"]["Transaction"]
            .as_str()
            .expect("transaction")
            .to_owned(),
        ..InboundSummary::default()
    };
    let origin = ReceiptOrigin {
        max_details: eai_protocol::receipt::DEFAULT_MAX_DETAILS,
        source_application: "DESTINATION".into(),
        product_name: "DESTINATION".into(),
    };
    let now = chrono::Utc::now();
    let receipt = Receipt::new(&origin, &inbound, now, now, Vec::new(), Vec::new());
    channel
        .basic_publish(
            "".into(),
            reply_to.as_str().into(),
            BasicPublishOptions::default(),
            &receipt.to_bytes(),
            BasicProperties::default(),
        )
        .await
        .expect("receipt published");
    envelope
}

/// The one ReturnItem of a pushed StockLevel (plain lists).
fn return_item(level: &Value) -> &Value {
    &level["Content"]["ListOfReturnItem"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_with_a_missing_exchange_fails_alone() {
    let app = spawn_app().await;
    let (channel, queue) = destination_queue(&app, "good", "StockLevel").await;
    let broken = json!({"destinations": [{
        "name": "broken", "company": "T1", "branch": "D MG 01", "transaction": "StockLevel",
        "kind": "amqp", "exchange": format!("missing-{}", uuid::Uuid::new_v4()), "timeout_ms": 60000}]});
    app.import(&broken).await;
    let reserve = |product: &str, id: &str| {
        json!({"Header": {"UUID": uuid::Uuid::new_v4().to_string(), "Transaction": "ItemReserve",
                          "Version": "2.000", "SourceApplication": "ECOMMERCE",
                          "CompanyId": "T1", "BranchId": "D MG 01"},
               "Content": {"InternalId": id, "ReserveType": "VD", "DocumentReserve": id,
                           "ReserveItemType": {"Item": [{"ItemCode": product, "Quantity": 1}]}}})
        .to_string()
        .into_bytes()
    };

    let mut delivered = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (product, id) in [("P002", "broken-1"), ("P003", "broken-2")] {
        let receipt = app.publish_one(reserve(product, id)).await;
        assert_eq!(receipt["Content"]["ProcessingInformation"]["Status"], "ok");
        // Delivery is at least once: a message whose confirm was lost with
        // the channel the broken exchange closed may arrive again, same UUID.
        let mut level = next_envelope(&app, &channel, &queue).await;
        while !seen.insert(level["Header"]["UUID"].to_string()) {
            level = next_envelope(&app, &channel, &queue).await;
        }
        delivered.push(
            return_item(&level)["ItemInternalId"]
                .as_str()
                .expect("product")
                .to_owned(),
        );
    }

    assert_eq!(
        delivered,
        vec!["P002", "P003"],
        "the good destination keeps receiving"
    );
    let tried: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox o JOIN destinations d ON d.id = o.destination_id
          WHERE d.name = 'broken' AND o.attempts > 0",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("broken messages");
    assert!(tried > 0, "the broken destination was tried");
}
