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
    destination_queue_with(app, name, transaction, json!({})).await
}

/// [`destination_queue`] with more destination settings (`namespace`, `list_style`).
async fn destination_queue_with(
    app: &TestApp,
    name: &str,
    transaction: &str,
    settings: Value,
) -> (Channel, String) {
    let channel = app.channel().await;
    let queue = declare_private_queue(&channel).await.expect("queue");
    let mut destination = json!({
        "name": name, "company": "T1", "branch": "D MG 01", "transaction": transaction,
        "kind": "amqp", "exchange": "", "routing_key": queue, "timeout_ms": 60000});
    for (key, value) in settings.as_object().expect("settings object") {
        destination[key] = value.clone();
    }
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
    levels.sort_by_key(|level| return_item(level)["ItemInternalId"].to_string());
    assert_eq!(levels[0]["Header"]["Transaction"], "StockLevel");
    assert_eq!(levels[0]["Content"]["ClosingStockDate"], "2020-01-31");
    let p001 = return_item(&levels[0]);
    assert_eq!(p001["ItemInternalId"], "P001");
    assert_eq!(p001["BookedStockAmount"], json!(5));
    assert_eq!(p001["CurrentStockAmount"], json!(640));
    assert_eq!(p001["AvailableStockAmount"], json!(595));
    let lots = &p001["ListOfLotStock"];
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
        integrated["Content"]["InternalId"], "T1|D MG 01|000001",
        "the order is ours"
    );
    assert_eq!(integrated["Content"]["Number"], "000001");
    assert_eq!(integrated["Content"]["Status"], "released");
    assert!(
        chrono::DateTime::parse_from_rfc3339(
            integrated["Content"]["RegisterDate"]
                .as_str()
                .expect("RegisterDate")
        )
        .is_ok(),
        "RegisterDate is a date-time: {integrated}"
    );
    let traced = &integrated["Content"]["ListOfTraceability"][0];
    assert_eq!(
        traced["RetailSalesInternalId"], "15da928b-9e88-4947-a508-8cdd56beabd9",
        "the shop's own id travels with our document"
    );
    assert_eq!(traced["InternalId"], "T1|D MG 01|000001");

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
            .all(|level| return_item(level)["BookedStockAmount"] == json!(0)),
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
            return_item(&level)["ItemInternalId"]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_destination_gets_our_codes_in_its_own_words_and_list_style() {
    let app = spawn_app().await;
    let (shop_channel, shop) = destination_queue_with(
        &app,
        "shop",
        "StockLevel",
        json!({"namespace": "ECOMMERCE"}),
    )
    .await;
    let (erp_channel, erp) =
        destination_queue_with(&app, "erp", "StockLevel", json!({"list_style": "wrapped"})).await;
    let reserve = json!({"Header": {"UUID": uuid::Uuid::new_v4().to_string(),
                                    "Transaction": "ItemReserve", "Version": "2.000",
                                    "SourceApplication": "ECOMMERCE", "ProductName": "ECOMMERCE",
                                    "CompanyId": "T1", "BranchId": "D MG 01"},
                         "Content": {"InternalId": "words-1", "ReserveType": "VD",
                                     "DocumentReserve": "words-1",
                                     "ReserveItemType": {"Item": [{"ItemCode": "P001", "Quantity": 1}]}}});
    let receipt = app.publish_one(reserve.to_string().into_bytes()).await;
    assert_eq!(receipt["Content"]["ProcessingInformation"]["Status"], "ok");

    let to_shop = next_envelope(&app, &shop_channel, &shop).await;
    assert_eq!(
        return_item(&to_shop)["ItemInternalId"],
        "d077bf8a-bbbb-4549-9b00-1a203cfe4428",
        "the shop knows P001 only by its UUID: {to_shop}"
    );
    assert_eq!(
        return_item(&to_shop)["ListOfLotStock"][0]["WarehouseInternalId"],
        "ARMAZEM-CENTRAL",
        "the shop's name for our warehouse 01"
    );
    assert_eq!(
        return_item(&to_shop)["CompanyId"],
        "T1",
        "an unmapped code goes out as ours"
    );
    let to_erp = next_envelope(&app, &erp_channel, &erp).await;
    let item = &to_erp["Content"]["ListOfReturnItem"]["ReturnItem"][0];
    assert_eq!(item["ItemInternalId"], "P001", "no namespace: our codes");
    assert_eq!(
        item["ListOfWarehouseStock"]["WarehouseStock"][0]["WarehouseInternalId"],
        "01"
    );
    assert!(item["ListOfLotStock"]["LotStock"].is_array(), "{to_erp}");
    assert_ne!(
        to_shop["Header"]["UUID"], to_erp["Header"]["UUID"],
        "each destination's copy has its own UUID"
    );
}

/// A StockLevel request (StockLevel 3.003) from the shop, with `requests`
/// as its `ListOfRequest`.
fn stock_request(uuid: &str, requests: Value) -> Vec<u8> {
    json!({"Header": {"UUID": uuid, "Type": "BusinessMessage", "Transaction": "StockLevel",
                      "Version": "3.003", "SourceApplication": "ECOMMERCE",
                      "ProductName": "ECOMMERCE", "CompanyId": "T1", "BranchId": "D MG 01",
                      "SubType": "request"},
           "Content": {"ListOfRequest": requests}})
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_level_request_is_answered_in_its_receipt_in_the_shops_words() {
    let app = spawn_app().await;
    publish(&app, "seed-001/item-reserve-full-example.json").await;
    let uuid = uuid::Uuid::new_v4().to_string();
    let request = stock_request(
        &uuid,
        json!([
            {"ItemInternalId": "d077bf8a-bbbb-4549-9b00-1a203cfe4428"},
            {"ItemCode": "P002", "WarehouseCode": "ARMAZEM-CENTRAL", "LotNumber": "P2-A"}
        ]),
    );

    let receipt = app.publish_one(request.clone()).await;

    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "{receipt}"
    );
    let returned = &receipt["Content"]["ReturnContent"];
    assert_eq!(returned["ClosingStockDate"], "2020-01-31");
    let p001 = &returned["ListOfReturnItem"][0];
    assert_eq!(
        p001["ItemInternalId"], "d077bf8a-bbbb-4549-9b00-1a203cfe4428",
        "echoed as the shop named it"
    );
    assert_eq!(p001["CurrentStockAmount"], json!(640));
    assert_eq!(p001["BookedStockAmount"], json!(5));
    assert_eq!(p001["AvailableStockAmount"], json!(595));
    assert_eq!(
        p001["ListOfWarehouseStock"][0]["WarehouseInternalId"], "ARMAZEM-CENTRAL",
        "our warehouse 01 as the shop knows it"
    );
    assert_eq!(p001["ListOfLotStock"].as_array().map(Vec::len), Some(3));
    let p002 = &returned["ListOfReturnItem"][1];
    assert_eq!(p002["ItemInternalId"], "P002");
    assert_eq!(p002["ListOfLotStock"].as_array().map(Vec::len), Some(1));
    assert_eq!(p002["ListOfLotStock"][0]["LotNumber"], "P2-A");
    assert_eq!(p002["BookedStockAmount"], json!(1));

    let again = app.publish_one(request).await;
    assert_eq!(
        again, receipt,
        "a redelivered request gets the same receipt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_level_request_names_what_it_cannot_answer_and_keeps_its_list_style() {
    let app = spawn_app().await;
    let refused = app
        .publish_one(stock_request(
            &uuid::Uuid::new_v4().to_string(),
            json!([{"ItemCode": "NOPE"}, {"ItemCode": "P001", "WarehouseCode": "99"}]),
        ))
        .await;
    assert_eq!(
        refused["Content"]["ProcessingInformation"]["Status"],
        "error"
    );
    let details: Vec<String> = refused["Content"]["ProcessingInformation"]["Details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|detail| format!("{} {}", detail["Code"], detail["Message"]))
        .collect();
    assert!(
        details[0].contains("PRODUCT_NOT_FOUND")
            && details[0].contains("$.Content.ListOfRequest[0].ItemCode"),
        "{details:?}"
    );
    assert!(
        details[1].contains("WAREHOUSE_NOT_FOUND")
            && details[1].contains("$.Content.ListOfRequest[1].WarehouseCode"),
        "{details:?}"
    );

    let wrapped = app
        .publish_one(stock_request(
            &uuid::Uuid::new_v4().to_string(),
            json!({"Request": [{"ItemCode": "P005"}]}),
        ))
        .await;
    let item = &wrapped["Content"]["ReturnContent"]["ListOfReturnItem"]["ReturnItem"][0];
    assert_eq!(item["ItemInternalId"], "P005", "{wrapped}");
    assert_eq!(
        item["ListOfLotStock"]["LotStock"][0]["CurrentStockAmount"],
        json!(10)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_test_from_the_other_side_is_answered_ok_and_changes_nothing() {
    let app = spawn_app().await;
    let before = app.reserved("D MG 01", "P001").await;
    let test = json!({"Header": {"UUID": uuid::Uuid::new_v4().to_string(), "Type": "BusinessMessage",
                                 "Transaction": "EAIEnvironmentTest", "Version": "1.000",
                                 "SourceApplication": "PROTHEUS", "CompanyId": "T1",
                                 "BranchId": "D MG 01"},
                      "Content": "connection test"});

    let receipt = app.publish_one(test.to_string().into_bytes()).await;

    assert_eq!(receipt["Header"]["Transaction"], "EAIEnvironmentTest");
    assert_eq!(receipt["Content"]["ProcessingInformation"]["Status"], "ok");
    assert!(receipt["Content"].get("ReturnContent").is_none());
    assert_eq!(app.reserved("D MG 01", "P001").await, before);
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'message'")
        .fetch_one(app.db.pool())
        .await
        .expect("outbox");
    assert_eq!(written, 0, "no event follows a connection test");
}
