//! The events the worker emits in its business transactions, delivered by the
//! sender to an HTTP destination: StockLevel when reservations change
//! availability, DocumentTraceabilityOrder when a sale is integrated or
//! cancelled; and what the worker answers in a receipt without an event (a
//! StockLevel request, a connection test). These run on either backend
//! (`EAI_TEST_BACKEND`); the same events delivered to AMQP destinations, and
//! an AMQP destination whose exchange is missing, are in `events_amqp.rs`.

use std::time::{Duration, Instant};

use eai_protocol::ReceiptOrigin;
use eai_tests::destination::{HttpBehaviour, HttpDestination};
use eai_tests::{example, spawn_app, TestApp};
use serde_json::{json, Value};

/// An HTTP destination of D MG 01 for `transaction`, answering ok at
/// `/ok/{name}` on `server`; returns that path.
async fn destination(
    app: &TestApp,
    server: &HttpDestination,
    name: &str,
    transaction: &str,
) -> String {
    destination_with(app, server, name, transaction, json!({})).await
}

/// [`destination`] with more destination settings (`namespace`, `list_style`).
async fn destination_with(
    app: &TestApp,
    server: &HttpDestination,
    name: &str,
    transaction: &str,
    settings: Value,
) -> String {
    let path = format!("/ok/{name}");
    let mut destination = json!({
        "name": name, "company": "T1", "branch": "D MG 01", "transaction": transaction,
        "kind": "http", "url": server.url(&path), "timeout_ms": 60000});
    for (key, value) in settings.as_object().expect("settings object") {
        destination[key] = value.clone();
    }
    app.import(&json!({ "destinations": [destination] })).await;
    path
}

/// The first `count` events `server` accepted at `path`, in arrival order,
/// polled for at most 20 s (the destination answers each with an ok receipt:
/// the sender holds a document's next message until the previous one is
/// settled).
async fn delivered(server: &HttpDestination, path: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let accepted: Vec<Value> = server
            .received()
            .into_iter()
            .filter(|request| request.path == path && request.status == 200)
            .map(|request| serde_json::from_str(&request.body).expect("event JSON"))
            .collect();
        if accepted.len() >= count {
            return accepted.into_iter().take(count).collect();
        }
        assert!(
            Instant::now() < deadline,
            "{count} event(s) expected at {path} within 20 s, {} arrived: {accepted:?}",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one ReturnItem of a pushed StockLevel (plain lists).
fn return_item(level: &Value) -> &Value {
    &level["Content"]["ListOfReturnItem"][0]
}

async fn publish(app: &TestApp, name: &str) -> Value {
    let body = std::fs::read(example(name)).expect("example");
    app.publish_one(body).await
}

/// Publishes `body` and checks that its receipt is `ok`.
async fn publish_ok(app: &TestApp, body: Vec<u8>) {
    let receipt = app.publish_one(body).await;
    assert_eq!(
        receipt["Content"]["ProcessingInformation"]["Status"], "ok",
        "{receipt}"
    );
}

/// The example `name` as another envelope (a UUID of its own), changed by `change`.
fn another(name: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let body = std::fs::read(example(name)).expect("example");
    let mut envelope: Value = serde_json::from_slice(&body).expect("example JSON");
    envelope["Header"]["UUID"] = json!(uuid::Uuid::new_v4().to_string());
    change(&mut envelope);
    serde_json::to_vec(&envelope).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_sales_and_cancellations_emit_their_events() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let stock = destination(&app, &server, "stock", "StockLevel").await;
    let trace = destination(&app, &server, "trace", "DocumentTraceabilityOrder").await;

    publish(&app, "seed-001/item-reserve-full-example.json").await;
    let mut levels = delivered(&server, &stock, 3).await;
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
    let integrated = delivered(&server, &trace, 1).await.remove(0);
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
    let cancelled = delivered(&server, &trace, 2).await.remove(1);
    assert_eq!(cancelled["Content"]["Status"], "cancelled");
    let released = delivered(&server, &stock, 6).await.split_off(3);
    assert!(
        released
            .iter()
            .all(|level| return_item(level)["BookedStockAmount"] == json!(0)),
        "the cancellation gave every unit back: {released:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_added_while_the_worker_runs_hears_the_next_reservation() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let reserve = "seed-001/item-reserve-full-example.json";
    publish_ok(&app, std::fs::read(example(reserve)).expect("example")).await;

    let stock = destination(&app, &server, "stock", "StockLevel").await;
    let next = another(reserve, |envelope| {
        envelope["Content"]["InternalId"] = json!("a second reservation");
    });
    publish_ok(&app, next).await;

    let levels = delivered(&server, &stock, 3).await;
    let p001 = levels
        .iter()
        .map(return_item)
        .find(|item| item["ItemInternalId"] == "P001")
        .expect("a StockLevel of P001");
    assert_eq!(
        p001["BookedStockAmount"],
        json!(10),
        "the level after both reservations, sent for the second one: {levels:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_moved_to_another_branch_tells_the_first_its_stock_is_back() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let stock = destination(&app, &server, "stock", "StockLevel").await;
    let reserve = "seed-001/item-reserve-full-example.json";
    publish_ok(&app, std::fs::read(example(reserve)).expect("example")).await;
    delivered(&server, &stock, 3).await;

    let moved = another(reserve, |envelope| {
        envelope["Header"]["BranchId"] = json!("D MG 02");
        let first_item = envelope["Content"]["ReserveItemType"]["Item"][0].clone();
        envelope["Content"]["ReserveItemType"]["Item"] = json!([first_item]);
    });
    publish_ok(&app, moved).await;

    let given_back = delivered(&server, &stock, 6).await.split_off(3);
    assert!(
        given_back.iter().all(|level| {
            level["Content"]["ListOfReturnItem"][0]["BranchId"] == "D MG 01"
                && return_item(level)["BookedStockAmount"] == json!(0)
        }),
        "D MG 01 hears that the three products' units are free again: {given_back:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_stock_load_sends_every_product_of_the_branch_once_per_interval() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let stock = destination(&app, &server, "stock", "StockLevel").await;
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
    for level in delivered(&server, &stock, 5).await {
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
async fn each_destination_gets_our_codes_in_its_own_words_and_list_style() {
    let app = spawn_app().await;
    let server = HttpDestination::start(HttpBehaviour::default()).await;
    let shop = destination_with(
        &app,
        &server,
        "shop",
        "StockLevel",
        json!({"namespace": "ECOMMERCE"}),
    )
    .await;
    let erp = destination_with(
        &app,
        &server,
        "erp",
        "StockLevel",
        json!({"list_style": "wrapped"}),
    )
    .await;
    let reserve = json!({"Header": {"UUID": uuid::Uuid::new_v4().to_string(),
                                    "Transaction": "ItemReserve", "Version": "2.000",
                                    "SourceApplication": "ECOMMERCE", "ProductName": "ECOMMERCE",
                                    "CompanyId": "T1", "BranchId": "D MG 01"},
                         "Content": {"InternalId": "words-1", "ReserveType": "VD",
                                     "DocumentReserve": "words-1",
                                     "ReserveItemType": {"Item": [{"ItemCode": "P001", "Quantity": 1}]}}});
    let receipt = app.publish_one(reserve.to_string().into_bytes()).await;
    assert_eq!(receipt["Content"]["ProcessingInformation"]["Status"], "ok");

    let to_shop = delivered(&server, &shop, 1).await.remove(0);
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
    let to_erp = delivered(&server, &erp, 1).await.remove(0);
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
    let written = app
        .count("SELECT count(*) FROM outbox WHERE kind = 'message'")
        .await;
    assert_eq!(written, 0, "no event follows a connection test");
}
