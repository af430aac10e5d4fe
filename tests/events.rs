//! The events the worker emits in its business transactions, delivered by the
//! sender: StockLevel when reservations change availability,
//! DocumentTraceabilityOrder when a sale is integrated or cancelled.

use eai_protocol::{InboundSummary, Receipt, ReceiptOrigin};
use eai_tests::{example, spawn_app, TestApp};
use eai_transport::lapin::options::BasicPublishOptions;
use eai_transport::lapin::{BasicProperties, Channel};
use eai_transport::topology::declare_private_queue;
use serde_json::{json, Value};

/// A private queue and an AMQP destination (default exchange) delivering `transaction` into it.
async fn destination_queue(app: &TestApp, name: &str, transaction: &str) -> (Channel, String) {
    let channel = app.channel().await;
    let queue = declare_private_queue(&channel).await.expect("queue");
    let destinations = json!({"destinations": [{
        "name": name, "company": "T1", "branch": "D MG 01", "transaction": transaction,
        "kind": "amqp", "exchange": "", "routing_key": queue, "timeout_ms": 60000}]});
    let report = app
        .db
        .store
        .import(&destinations, &|_| {})
        .await
        .expect("import");
    assert!(report.is_ok(), "{:?}", report.errors);
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

async fn publish(app: &TestApp, name: &str) -> Value {
    let body = std::fs::read(example(name)).expect("example");
    app.publish_one(body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_sales_and_cancellations_emit_their_events() {
    let app = spawn_app().await;
    let (stock_channel, stock) = destination_queue(&app, "stock", "StockLevel").await;
    let (trace_channel, trace) =
        destination_queue(&app, "trace", "DocumentTraceabilityOrder").await;

    publish(&app, "seed-001/item-reserve-full-example.json").await;
    let mut levels = Vec::new();
    for _ in 0..3 {
        levels.push(next_envelope(&app, &stock_channel, &stock).await);
    }
    levels.sort_by_key(|level| level["Content"]["ItemInternalId"].to_string());
    let p001 = &levels[0];
    assert_eq!(p001["Header"]["Transaction"], "StockLevel");
    assert_eq!(p001["Content"]["ItemInternalId"], "P001");
    assert_eq!(p001["Content"]["BookedStockAmount"], json!(5));
    assert_eq!(p001["Content"]["CurrentStockAmount"], json!(640));
    assert_eq!(p001["Content"]["AvailableStockAmount"], json!(595));
    let lots = &p001["Content"]["ListOfLotStock"]["LotStock"];
    assert_eq!(
        lots[0]["LotNumber"], "L2025",
        "lots in expiry order: {lots}"
    );
    assert_eq!(
        lots[0]["AvailableStockAmount"],
        json!(0),
        "an expired lot offers nothing"
    );
    assert_eq!(lots[1]["LotNumber"], "L2029A");
    assert_eq!(lots[1]["BookedStockAmount"], json!(5));
    assert_eq!(lots[1]["AvailableStockAmount"], json!(95));

    publish(&app, "seed-001/retail-sales-full-2.json").await;
    let integrated = next_envelope(&app, &trace_channel, &trace).await;
    assert_eq!(
        integrated["Header"]["Transaction"],
        "DocumentTraceabilityOrder"
    );
    assert_eq!(
        integrated["Content"]["InternalId"],
        "15da928b-9e88-4947-a508-8cdd56beabd9"
    );
    assert_eq!(integrated["Content"]["Number"], "000001");
    assert_eq!(integrated["Content"]["Status"], "released");

    publish(&app, "seed-001/retail-sales-cancellation.json").await;
    let cancelled = next_envelope(&app, &trace_channel, &trace).await;
    assert_eq!(cancelled["Content"]["Status"], "cancelled");
    let mut released = Vec::new();
    for _ in 0..3 {
        released.push(next_envelope(&app, &stock_channel, &stock).await);
    }
    assert!(
        released
            .iter()
            .all(|level| level["Content"]["BookedStockAmount"] == json!(0)),
        "the cancellation gave every unit back: {released:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_stock_load_sends_every_product_of_the_branch_once_per_interval() {
    let app = spawn_app().await;
    let (channel, queue) = destination_queue(&app, "stock", "StockLevel").await;
    let origin = ReceiptOrigin {
        max_details: eai_protocol::receipt::DEFAULT_MAX_DETAILS,
        source_application: "EAIWORKER".into(),
        product_name: "EAIWORKER".into(),
    };
    let day = std::time::Duration::from_secs(86_400);

    let first = app
        .db
        .store
        .full_stock_load(&origin, day)
        .await
        .expect("load");
    let second = app
        .db
        .store
        .full_stock_load(&origin, day)
        .await
        .expect("load");

    assert_eq!(
        first,
        Some(5),
        "P001…P005 have lots in D MG 01's warehouse 01"
    );
    assert_eq!(
        second, None,
        "another worker (or this one) already ran it today"
    );
    let mut products = Vec::new();
    for _ in 0..5 {
        let level = next_envelope(&app, &channel, &queue).await;
        products.push(
            level["Content"]["ItemInternalId"]
                .as_str()
                .expect("product")
                .to_owned(),
        );
    }
    products.sort();
    assert_eq!(products, vec!["P001", "P002", "P003", "P004", "P005"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_with_a_missing_exchange_fails_alone() {
    let app = spawn_app().await;
    let (channel, queue) = destination_queue(&app, "good", "StockLevel").await;
    let broken = json!({"destinations": [{
        "name": "broken", "company": "T1", "branch": "D MG 01", "transaction": "StockLevel",
        "kind": "amqp", "exchange": format!("missing-{}", uuid::Uuid::new_v4()), "timeout_ms": 60000}]});
    assert!(app
        .db
        .store
        .import(&broken, &|_| {})
        .await
        .expect("import")
        .is_ok());
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
            level["Content"]["ItemInternalId"]
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
    .fetch_one(app.db.store.pool())
    .await
    .expect("broken messages");
    assert!(tried > 0, "the broken destination was tried");
}
