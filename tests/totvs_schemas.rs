//! Every kind of envelope the worker emits, checked against its official
//! TOTVS schema (`tests/schemas/`): the StockLevel and
//! DocumentTraceabilityOrder events in both list styles, the connection test,
//! and the receipts of every transaction. Every other end-to-end test checks
//! what its worker wrote too, when its [`TestApp`] is dropped. On either
//! backend (`EAI_TEST_BACKEND`).

use std::collections::BTreeMap;
use std::time::Duration;

use eai_tests::destination::{HttpBehaviour, HttpDestination};
use eai_tests::schemas::{check, Checked};
use eai_tests::spawn_app;
use serde_json::{json, Value};

fn envelope(text: &str) -> Value {
    serde_json::from_str(text).expect("test envelope is JSON")
}

fn header(transaction: &str, kind: &str) -> Value {
    json!({"UUID": "0b7f6c1e-5d0a-4f1e-9c55-3f2a1b0c9d8e", "Type": kind,
           "Transaction": transaction, "Version": "1.000", "SourceApplication": "EAIWORKER",
           "CompanyId": "T1", "BranchId": "D MG 01"})
}

fn event(transaction: &str, content: Value) -> Value {
    json!({"Header": header(transaction, "BusinessMessage"), "Content": content})
}

fn problems(envelope: &Value) -> String {
    match check(envelope) {
        Ok(checked) => panic!("{checked:?} passed: {envelope}"),
        Err(problems) => problems.join("; "),
    }
}

#[test]
fn the_check_rejects_what_the_schemas_forbid_and_passes_what_they_define() {
    let lot = json!({"WarehouseInternalId": "01", "LotNumber": "L1", "CurrentStockAmount": 3,
                     "AvailableStockAmount": 3, "BookedStockAmount": 0});
    let item = json!({"CompanyId": "T1", "BranchId": "D MG 01", "ItemInternalId": "P001",
                      "ReferenceDate": "2024-03-05", "CurrentStockAmount": 3,
                      "ListOfWarehouseStock": [{"WarehouseInternalId": "01", "CurrentStockAmount": 3}],
                      "ListOfLotStock": [lot]});
    let plain = event(
        "StockLevel",
        json!({"ClosingStockDate": "2024-01-31", "ListOfReturnItem": [item]}),
    );
    assert_eq!(check(&plain), Ok(Checked::StockLevelEvent));
    let wrapped = event(
        "StockLevel",
        json!({"ListOfReturnItem": {"ReturnItem": [{
            "ItemInternalId": "P001",
            "ListOfWarehouseStock": {"WarehouseStock": [{"WarehouseInternalId": "01"}]},
            "ListOfLotStock": {"LotStock": [lot]}}]}}),
    );
    assert_eq!(check(&wrapped), Ok(Checked::StockLevelEvent));

    // What the worker sent before: the ReturnItem's fields at the top of
    // the Content, and a null for a lot without expiry.
    let before = event(
        "StockLevel",
        json!({"CompanyId": "T1", "ItemInternalId": "P001"}),
    );
    let found = problems(&before);
    assert!(found.contains("'CompanyId'"), "{found}");
    let null_expiry = event(
        "StockLevel",
        json!({"ListOfReturnItem": [{"ListOfLotStock": [{"LotNumber": "L1", "LotExpirationDate": null}]}]}),
    );
    let found = problems(&null_expiry);
    assert!(
        found.contains("/ListOfReturnItem/0/ListOfLotStock/0/LotExpirationDate")
            && found.contains("null"),
        "{found}"
    );

    let bare_date = event(
        "DocumentTraceabilityOrder",
        json!({"InternalId": "T1|D MG 01|000001", "RegisterDate": "2024-03-05",
               "ListOfItem": [{"Number": "01", "Quantity": 1}]}),
    );
    assert!(problems(&bare_date).contains("date-time"));
    let item_as_list = event(
        "DocumentTraceabilityOrder",
        json!({"ListOfItem": [{"Number": "01", "Quantity": "1"}]}),
    );
    assert!(problems(&item_as_list).contains("/ListOfItem/0/Quantity"));

    assert!(problems(&event("EAIEnvironmentTest", json!({}))).contains("string"));
    assert_eq!(
        check(&event("EAIEnvironmentTest", json!("connection test"))),
        Ok(Checked::EnvironmentTest)
    );

    let receipt = |ids: Value| {
        json!({"Header": header("RetailSales", "ReceiptMessage"),
               "Content": {"ProcessingInformation": {"Status": "ok"},
                           "ReturnContent": {"ListOfInternalId": ids}}})
    };
    assert_eq!(
        check(&receipt(
            json!([{"Name": "RetailSales", "Origin": "a", "Destination": "T1|D MG 01|000001"}])
        )),
        Ok(Checked::ReceiptInternalIds)
    );
    assert!(problems(&receipt(json!([{"Name": "RetailSales", "Target": "x"}]))).contains("target"));
    assert!(problems(&envelope(
        r#"{"Header": {"Type": "BusinessMessage", "Transaction": "Order"}}"#
    ))
    .contains("no schema"));
}

/// Waits until `destination` received `count` requests.
async fn received(destination: &HttpDestination, count: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let bodies: Vec<String> = destination
            .received()
            .into_iter()
            .map(|request| request.body)
            .collect();
        if bodies.len() >= count || std::time::Instant::now() > deadline {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_envelope_the_worker_emits_is_valid() {
    let app = spawn_app().await;
    let shop = HttpDestination::start(HttpBehaviour::default()).await;
    let destination = |name: &str, transaction: &str, path: &str, extra: Value| {
        let mut row = json!({"name": name, "company": "T1", "branch": "D MG 01",
                             "transaction": transaction, "kind": "http", "url": shop.url(path)});
        for (key, value) in extra.as_object().expect("object") {
            row[key] = value.clone();
        }
        row
    };
    app.import(&json!({"destinations": [
        destination("stock", "StockLevel", "/ok/stock", json!({})),
        destination("stock-wrapped", "StockLevel", "/ok/stock-wrapped",
                    json!({"namespace": "ECOMMERCE", "list_style": "wrapped"})),
        destination("trace", "DocumentTraceabilityOrder", "/ok/trace", json!({})),
        destination("trace-wrapped", "DocumentTraceabilityOrder", "/ok/trace-wrapped",
                    json!({"namespace": "ECOMMERCE", "list_style": "wrapped"})),
    ],
    "mappings": [{"namespace": "ECOMMERCE", "entity": "Company", "external": "LOJA-T1",
                  "internal": "T1"}]}))
        .await;

    for name in [
        "seed-001/item-reserve-full-example.json",
        "seed-001/retail-sales-full-2.json",
        "seed-001/retail-sales-cancellation.json",
        "seed-001/case-10.4.4.json",
        "item-reserve-shortfall.json",
    ] {
        app.publish_example(name).await;
    }
    for (transaction, version, content) in [
        (
            "StockLevel",
            "3.003",
            json!({"ListOfRequest": [{"ItemCode": "P001"}]}),
        ),
        (
            "StockLevel",
            "3.003",
            json!({"ListOfRequest": {"Request": [{"ItemCode": "P002", "WarehouseCode": "01"}]}}),
        ),
        ("EAIEnvironmentTest", "1.000", json!("connection test")),
    ] {
        let body = json!({"Header": {"UUID": uuid::Uuid::new_v4().to_string(),
                                     "Transaction": transaction, "Version": version,
                                     "SourceApplication": "ECOMMERCE", "CompanyId": "T1",
                                     "BranchId": "D MG 01"},
                          "Content": content});
        app.publish_one(body.to_string().into_bytes()).await;
    }
    let probed = app
        .db
        .store
        .destination("stock-wrapped")
        .await
        .expect("destinations read")
        .expect("the shop's stock destination");
    let company = app.db.store.company_for(&probed).await.expect("codes read");
    assert_eq!(company, "LOJA-T1", "the shop's name for our company T1");
    let (settlement, _) = eai::commands::destinations::probe(&app.settings, &probed, &company)
        .await
        .expect("the connection test runs");
    assert_eq!(settlement.status(), eai_store::log::Status::Done);

    // Three StockLevels per reservation change for each of two destinations
    // (reserved, then released by the cancellation), a traceability per sale
    // change for each of two, and the connection test.
    let posted = received(&shop, 6 + 6 + 4 + 1).await;
    let test_posted = posted
        .iter()
        .find(|body| body.contains("EAIEnvironmentTest"))
        .expect("the connection test arrived");
    assert!(
        test_posted.contains(r#""CompanyId":"LOJA-T1""#),
        "{test_posted}"
    );
    assert!(
        posted.len() >= 17,
        "{} messages posted: {posted:#?}",
        posted.len()
    );
    let written: Vec<String> = app
        .rows::<(String,)>(
            "SELECT body FROM outbox WHERE kind = 'receipt' OR destination_id IS NOT NULL ORDER BY id",
        )
        .await
        .into_iter()
        .map(|(body,)| body)
        .collect();

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut invalid = Vec::new();
    for body in posted.iter().chain(&written) {
        let envelope = envelope(body);
        let wrapped =
            body.contains(r#""ListOfReturnItem":{"#) || body.contains(r#""ListOfItem":{"#);
        match check(&envelope) {
            Ok(checked) => {
                let style = if wrapped { " (wrapped)" } else { "" };
                *counts.entry(format!("{checked:?}{style}")).or_default() += 1;
            }
            Err(problems) => invalid.push(format!("{}: {body}", problems.join("; "))),
        }
    }
    println!("valid envelopes by schema: {counts:#?}");
    assert!(invalid.is_empty(), "invalid: {invalid:#?}");
    for kind in [
        "StockLevelEvent",
        "StockLevelEvent (wrapped)",
        "TraceabilityEvent",
        "TraceabilityEvent (wrapped)",
        "EnvironmentTest",
        "ReceiptInternalIds",
        "ReceiptWithoutReturn",
        "StockLevelReceipt",
    ] {
        assert!(
            counts.contains_key(kind),
            "no {kind} was checked: {counts:?}"
        );
    }
}
