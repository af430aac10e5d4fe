//! RetailSales and RetailSalesCancellation end to end, with the seed 001
//! envelopes of `examples/seed-001/`, through the real broker and database
//! (or, with `EAI_TEST_INLET=database`, the database's inbound queue).

use std::collections::BTreeSet;
use std::time::Duration;

use eai_tests::{decimal, example, spawn_app, spawn_app_with, TestApp};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn seed(name: &str) -> Value {
    let path = example(&format!("seed-001/{name}"));
    let text = std::fs::read_to_string(&path).expect("seed example exists");
    serde_json::from_str(&text).expect("seed example is JSON")
}

fn status(receipt: &Value) -> &str {
    receipt["Content"]["ProcessingInformation"]["Status"]
        .as_str()
        .expect("receipt status")
}

fn codes(receipt: &Value) -> BTreeSet<String> {
    receipt["Content"]["ProcessingInformation"]["Details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|detail| detail["Code"].as_str().map(str::to_owned))
        .collect()
}

/// The codes of the details of one type ("error" or "warning").
fn codes_of(receipt: &Value, kind: &str) -> BTreeSet<String> {
    receipt["Content"]["ProcessingInformation"]["Details"]
        .as_array()
        .expect("details")
        .iter()
        .filter(|detail| detail["Type"] == kind)
        .filter_map(|detail| detail["Code"].as_str().map(str::to_owned))
        .collect()
}

fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|code| (*code).to_owned()).collect()
}

fn messages(receipt: &Value) -> String {
    receipt["Content"]["ProcessingInformation"]["Details"].to_string()
}

/// A copy of `envelope` with a new UUID (and the changes `edit` makes).
fn variant(envelope: &Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut copy = envelope.clone();
    copy["Header"]["UUID"] = json!(uuid::Uuid::new_v4().to_string());
    edit(&mut copy);
    copy
}

async fn send(app: &TestApp, envelope: &Value) -> Value {
    app.publish_one(envelope.to_string().into_bytes()).await
}

async fn total_reserved(app: &TestApp) -> Decimal {
    app.sum("SELECT CAST(reserved AS TEXT) FROM lots").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_worked_cases_end_as_the_spec_says() {
    let app = spawn_app().await;
    assert_eq!(
        status(&send(&app, &seed("case-10.4.6-item-reserve.json")).await),
        "ok"
    );

    let mut outcomes = Vec::new();
    for case in ["1", "2", "3", "4", "5", "6"] {
        let receipt = send(&app, &seed(&format!("case-10.4.{case}.json"))).await;
        outcomes.push((
            case,
            status(&receipt).to_owned(),
            codes_of(&receipt, "error"),
            codes_of(&receipt, "warning"),
        ));
    }

    let inconsistent = set(&["COMMODITY_PRICE_INCONSISTENT", "TOTAL_PRICE_INCONSISTENT"]);
    let expected = vec![
        ("1", "ok".to_owned(), set(&[]), set(&[])),
        ("2", "ok".to_owned(), set(&[]), set(&[])),
        ("3", "ok".to_owned(), set(&[]), set(&[])),
        (
            "4",
            "error".to_owned(),
            set(&["PAYMENTS_MISMATCH"]),
            inconsistent.clone(),
        ),
        ("5", "ok".to_owned(), set(&[]), inconsistent),
        ("6", "ok".to_owned(), set(&[]), set(&[])),
    ];
    assert_eq!(outcomes, expected);
    let sales: Vec<String> = app
        .rows::<(String,)>("SELECT document_code FROM sales ORDER BY id")
        .await
        .into_iter()
        .map(|(code,)| code)
        .collect();
    assert_eq!(
        sales,
        vec!["10.4.1", "10.4.2", "10.4.3", "10.4.5", "000000595"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_full_example_is_refused_for_its_totals_with_the_sum_spelled_out() {
    let app = spawn_app().await;
    send(&app, &seed("item-reserve-full-example.json")).await;

    let receipt = send(&app, &seed("retail-sales-full-1.json")).await;

    assert_eq!(status(&receipt), "error");
    assert_eq!(
        codes_of(&receipt, "error"),
        set(&["TOTALS_MISMATCH"]),
        "{receipt:#}"
    );
    assert!(
        messages(&receipt).contains("NetPrice 203.00 ≠ items 203.00 − discount 0.00 + freight 15.00 + increase 0.00 = 218.00"),
        "{receipt:#}"
    );
    let sales: i64 = app.count("SELECT count(*) FROM sales").await;
    assert_eq!(sales, 0, "nothing is written for a refused sale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrated_sale_takes_its_reservation_lots_and_raises_receivables() {
    let app = spawn_app().await;
    assert_eq!(
        status(&send(&app, &seed("item-reserve-full-example.json")).await),
        "ok"
    );
    let reserved = total_reserved(&app).await;

    let receipt = send(&app, &seed("retail-sales-full-2.json")).await;

    assert_eq!(status(&receipt), "ok", "{receipt:#}");
    assert_eq!(codes(&receipt), set(&["TOTAL_PRICE_INCONSISTENT"]));
    let ids = &receipt["Content"]["ReturnContent"]["ListOfInternalId"][0];
    assert_eq!(ids["Name"], "RetailSales");
    assert_eq!(ids["Origin"], "15da928b-9e88-4947-a508-8cdd56beabd9");
    assert_eq!(ids["Destination"], "T1|D MG 01|000001");
    let (sale_status, customer): (String, String) = app
        .rows("SELECT status, customer FROM sales")
        .await
        .pop()
        .expect("sale row");
    assert_eq!(
        (sale_status.as_str(), customer.as_str()),
        ("released", "C001")
    );
    let lots: Vec<(i32, String, String)> = app
        .rows(
            "SELECT item_no, lot, CAST(quantity AS TEXT) FROM sale_item_lots
              ORDER BY item_no, seq",
        )
        .await;
    let lots: Vec<(i32, String, Decimal)> = lots
        .into_iter()
        .map(|(n, lot, q)| (n, lot, decimal(&q)))
        .collect();
    assert_eq!(
        lots,
        vec![
            (1, "L2029A".to_owned(), Decimal::from(5)),
            (2, "P2-A".to_owned(), Decimal::from(1)),
            (3, "P3-A".to_owned(), Decimal::from(1)),
        ]
    );
    let receivables: Vec<(String, String, String, String)> = app
        .rows(
            "SELECT debtor_kind, debtor, CAST(amount AS TEXT), CAST(due_date AS TEXT)
               FROM receivables ORDER BY payment_no",
        )
        .await;
    let receivables: Vec<(String, String, Decimal, String)> = receivables
        .into_iter()
        .map(|(kind, debtor, amount, due)| (kind, debtor, decimal(&amount), due))
        .collect();
    assert_eq!(
        receivables,
        vec![(
            "financial_manager".to_owned(),
            "CAR".to_owned(),
            Decimal::from(203),
            "2020-05-23".to_owned()
        )],
        "one title of 203 due on the issue date + the card administrator's 30 days"
    );
    let (reservation,): (String,) = app
        .rows("SELECT status FROM reservations")
        .await
        .pop()
        .expect("reservation");
    assert_eq!(reservation, "used");
    assert_eq!(
        total_reserved(&app).await,
        reserved,
        "the sale holds what was reserved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_published_before_its_item_reserve_ends_integrated() {
    let app = spawn_app().await;
    let sale = std::fs::read(example("seed-001/retail-sales-full-2.json")).expect("sale");
    let reserve =
        std::fs::read(example("seed-001/item-reserve-full-example.json")).expect("reserve");
    let waiting = r#"eai_envelopes_waiting_total{transaction="RetailSales"}"#;

    // The reservation is published only once the sale has been seen without it.
    let (sold, reserved) = tokio::join!(app.publish(vec![sale], true), async {
        for _ in 0..200 {
            if app.http_get("/metrics").await.1.contains(waiting) {
                return app.publish(vec![reserve], true).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the sale never waited for its reservation");
    });

    assert_eq!(reserved[0].status(), Some("ok"));
    assert_eq!(sold[0].status(), Some("ok"), "{:?}", sold[0].receipt);
    let sales: i64 = app.count("SELECT count(*) FROM sales").await;
    assert_eq!(sales, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_totals_tolerance_setting_accepts_a_sale_a_cent_off() {
    let off_by_a_cent = |envelope: &Value| {
        variant(envelope, |sale| {
            sale["Content"]["ListOfSaleCondition"]["SaleCondition"][0]["PaymentValue"] =
                json!("15.01");
            sale["Content"]["DocumentCode"] = json!(uuid::Uuid::new_v4().simple().to_string());
            sale["Content"]["InternalId"] = json!(uuid::Uuid::new_v4().to_string());
        })
    };
    let strict = spawn_app().await;
    let refused = send(&strict, &off_by_a_cent(&seed("case-10.4.1.json"))).await;
    assert_eq!(codes_of(&refused, "error"), set(&["PAYMENTS_MISMATCH"]));

    let tolerant =
        spawn_app_with(|settings| settings.receiver.totals_tolerance = Decimal::new(1, 2)).await;
    let accepted = send(&tolerant, &off_by_a_cent(&seed("case-10.4.1.json"))).await;
    assert_eq!(status(&accepted), "ok", "{accepted:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_with_errors_of_its_own_is_answered_at_once_though_its_reservation_is_missing() {
    let app = spawn_app_with(|settings| {
        settings.receiver.reserve_retry_delays =
            vec![Duration::from_secs(60), Duration::from_secs(60)]
    })
    .await;
    let sale = variant(&seed("retail-sales-full-2.json"), |sale| {
        sale["Content"]["CustomerVendorInternalId"] = json!("nobody-we-know");
    });

    let started = std::time::Instant::now();
    let receipt = send(&app, &sale).await;

    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "not after a minute's wait: {:?}",
        started.elapsed()
    );
    assert_eq!(status(&receipt), "error");
    let codes = codes(&receipt);
    assert!(
        codes.contains("CUSTOMER_NOT_FOUND") && codes.contains("RESERVE_NOT_FOUND"),
        "{receipt:#}"
    );
    let waited: i64 = app.count("SELECT count(*) FROM inbox_retries").await;
    assert_eq!(waited, 0, "it never waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_whose_reservation_never_comes_is_answered_reserve_not_found_when_retries_are_spent()
{
    let app = spawn_app().await;

    let receipt = send(&app, &seed("retail-sales-full-2.json")).await;

    assert_eq!(status(&receipt), "error");
    assert!(codes(&receipt).contains("RESERVE_NOT_FOUND"), "{receipt:#}");
    let inbox: i64 = app.count("SELECT count(*) FROM inbox").await;
    assert_eq!(inbox, 1, "answered once, after its retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_sale_voids_its_receivables_and_returns_exactly_the_reserved_quantities() {
    let app = spawn_app().await;
    let before = total_reserved(&app).await;
    send(&app, &seed("item-reserve-full-example.json")).await;
    assert_eq!(
        status(&send(&app, &seed("retail-sales-full-2.json")).await),
        "ok"
    );
    assert_eq!(total_reserved(&app).await, before + Decimal::from(7));

    let receipt = send(&app, &seed("retail-sales-cancellation.json")).await;

    assert_eq!(status(&receipt), "ok", "{receipt:#}");
    assert_eq!(
        total_reserved(&app).await,
        before,
        "every lot is back where it was"
    );
    let (sale_status, receivable_status): (String, String) = app
        .rows("SELECT s.status, r.status FROM sales s JOIN receivables r ON r.sale_id = s.id")
        .await
        .pop()
        .expect("sale");
    assert_eq!(
        (sale_status.as_str(), receivable_status.as_str()),
        ("cancelled", "void")
    );
    let lots: Vec<(String, String)> = app
        .rows("SELECT CAST(reserved AS TEXT), CAST(quantity AS TEXT) FROM lots")
        .await;
    let over = lots
        .iter()
        .filter(|(reserved, quantity)| {
            decimal(reserved) > decimal(quantity) || decimal(reserved).is_sign_negative()
        })
        .count();
    assert_eq!(over, 0);

    let again = send(
        &app,
        &variant(&seed("retail-sales-cancellation.json"), |_| {}),
    )
    .await;
    assert_eq!(codes(&again), set(&["SALE_ALREADY_CANCELLED"]));
    let unknown = send(
        &app,
        &variant(&seed("retail-sales-cancellation.json"), |envelope| {
            envelope["Content"]["RetailSalesInternalId"] = json!("never-sold");
        }),
    )
    .await;
    assert_eq!(codes(&unknown), set(&["SALE_NOT_FOUND"]));
    assert_eq!(total_reserved(&app).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sale_code_is_answered_for_its_failing_envelope() {
    let app = spawn_app().await;
    let base = seed("case-10.4.1.json");
    assert_eq!(
        status(&send(&app, &base).await),
        "ok",
        "the base case is accepted"
    );
    assert_eq!(
        status(&send(&app, &seed("case-10.4.6-item-reserve.json")).await),
        "ok"
    );
    let fresh = |edit: &dyn Fn(&mut Value)| {
        variant(&base, |envelope| {
            let id = uuid::Uuid::new_v4().to_string();
            envelope["Content"]["InternalId"] = json!(id);
            envelope["Content"]["DocumentCode"] = json!(id);
            edit(envelope);
        })
    };
    let item = |envelope: &mut Value, key: &str, value: Value| {
        envelope["Content"]["ListOfSaleItem"]["SaleItem"][0][key] = value;
    };
    let payment = |envelope: &mut Value, key: &str, value: Value| {
        envelope["Content"]["ListOfSaleCondition"]["SaleCondition"][0][key] = value;
    };
    let remove = |envelope: &mut Value, key: &str| {
        envelope["Content"]
            .as_object_mut()
            .expect("content")
            .remove(key);
    };
    let against_reservation = |envelope: &mut Value, quantity: i64, warehouse: &str| {
        envelope["Content"]["ListOfSaleItem"]["SaleItem"] = json!([
            {"ItemCode": "d077bf8a-bbbb-4549-9b00-1a203cfe6650", "Quantity": quantity, "UnitPrice": 10,
             "ItemPrice": 10 * quantity, "OperationCode": "01", "WarehouseInternalId": warehouse,
             "ItemReserveInternalId": "b1e5d0d4-ceee-4e3b-9808-1db111c2f7FC"}]);
    };

    let cases: Vec<(&str, Value)> = vec![
        ("DOCUMENT_MISSING", fresh(&|e| remove(e, "DocumentCode"))),
        (
            "DOCUMENT_DUPLICATE",
            fresh(&|e| e["Content"]["DocumentCode"] = json!("10.4.1")),
        ),
        (
            "STATION_NOT_FOUND",
            fresh(&|e| e["Content"]["StationSalePointInternalId"] = json!("PDV-99")),
        ),
        (
            "OPERATOR_NOT_FOUND",
            fresh(&|e| e["Content"]["OperatorCode"] = json!("OP-99")),
        ),
        (
            "CUSTOMER_MISSING",
            fresh(&|e| remove(e, "CustomerVendorInternalId")),
        ),
        (
            "CUSTOMER_NOT_FOUND",
            fresh(&|e| e["Content"]["CustomerVendorInternalId"] = json!("nobody")),
        ),
        (
            "CUSTOMER_BLOCKED",
            fresh(&|e| e["Content"]["CustomerVendorInternalId"] = json!("C099")),
        ),
        (
            "CARRIER_NOT_FOUND",
            fresh(&|e| e["Content"]["CarrierCode"] = json!("99")),
        ),
        (
            "ISSUE_DATE_INVALID",
            fresh(&|e| e["Content"]["IssueDateDocument"] = json!("31/12/2021")),
        ),
        (
            "ISSUE_DATE_CLOSED_PERIOD",
            fresh(&|e| e["Content"]["IssueDateDocument"] = json!("2020-01-31")),
        ),
        (
            "TOTAL_PRICE_ZERO",
            fresh(&|e| e["Content"]["TotalPrice"] = json!(0)),
        ),
        (
            "NET_PRICE_ZERO",
            fresh(&|e| e["Content"]["NetPrice"] = json!("0,00")),
        ),
        ("GROSS_PRICE_ZERO", fresh(&|e| remove(e, "GrossPrice"))),
        (
            "ITEMS_MISSING",
            fresh(&|e| e["Content"]["ListOfSaleItem"] = json!({"SaleItem": []})),
        ),
        (
            "UNIT_PRICE_MISSING",
            fresh(&|e| item(e, "UnitPrice", Value::Null)),
        ),
        (
            "OPERATION_CODE_MISSING",
            fresh(&|e| item(e, "OperationCode", Value::Null)),
        ),
        (
            "TES_NOT_FOUND",
            fresh(&|e| item(e, "OperationCode", json!("99"))),
        ),
        (
            "PRODUCT_NOT_FOUND",
            fresh(&|e| item(e, "ItemCode", json!("unknown-product"))),
        ),
        (
            "PRODUCT_BLOCKED",
            fresh(&|e| item(e, "ItemCode", json!("P099"))),
        ),
        (
            "QUANTITY_INVALID",
            fresh(&|e| item(e, "Quantity", json!(0))),
        ),
        (
            "RESERVE_QUANTITY_MISMATCH",
            fresh(&|e| against_reservation(e, 2, "01")),
        ),
        (
            "RESERVE_WAREHOUSE_MISMATCH",
            fresh(&|e| against_reservation(e, 1, "02")),
        ),
        (
            "PAYMENTS_MISSING",
            fresh(&|e| e["Content"]["ListOfSaleCondition"] = json!([])),
        ),
        (
            "PAYMENT_METHOD_NOT_FOUND",
            fresh(&|e| payment(e, "PaymentMethodCode", json!("XX"))),
        ),
        (
            "FINANCIAL_MANAGER_NOT_FOUND",
            fresh(&|e| payment(e, "PaymentMethodCode", json!("CC"))),
        ),
        (
            "PAYMENT_VALUE_INVALID",
            fresh(&|e| payment(e, "PaymentValue", json!(0))),
        ),
        (
            "FREIGHT_MISMATCH",
            fresh(&|e| e["Content"]["FreightValue"] = json!(5)),
        ),
        (
            "INCREASE_MISMATCH",
            fresh(&|e| e["Content"]["IncreaseValue"] = json!("2,50")),
        ),
        (
            "TOTALS_MISMATCH",
            fresh(&|e| e["Content"]["DiscountValue"] = json!(4)),
        ),
        (
            "PAYMENTS_MISMATCH",
            fresh(&|e| payment(e, "PaymentValue", json!(14.99))),
        ),
        (
            "EVENT_NOT_SUPPORTED",
            fresh(&|e| e["Content"]["Event"] = json!("DELETE")),
        ),
    ];
    let bodies: Vec<Vec<u8>> = cases
        .iter()
        .map(|(_, envelope)| envelope.to_string().into_bytes())
        .collect();
    let before = total_reserved(&app).await;

    let published = app.publish(bodies, true).await;

    let mut missed = Vec::new();
    for ((code, _), published) in cases.iter().zip(&published) {
        let receipt = published
            .receipt
            .as_ref()
            .expect("every envelope is answered");
        if status(receipt) != "error" || !codes(receipt).contains(*code) {
            missed.push(format!(
                "{code}: got {} {:?}",
                status(receipt),
                codes(receipt)
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "codes not answered as expected:\n{}",
        missed.join("\n")
    );
    let sales: i64 = app.count("SELECT count(*) FROM sales").await;
    assert_eq!(sales, 1, "only the base case was integrated");
    assert_eq!(
        total_reserved(&app).await,
        before,
        "no refused sale touched the stock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_of_more_than_a_hundred_items_is_numbered_and_integrated() {
    let app = spawn_app().await;
    let items: Vec<Value> = (0..120)
        .map(|_| {
            json!({"ItemOrder": 1, "ItemCode": "P004", "Quantity": 1, "UnitPrice": "1,50",
                   "OperationCode": "01"})
        })
        .collect();
    let sale = variant(&seed("case-10.4.1.json"), |envelope| {
        let content = &mut envelope["Content"];
        content["ListOfSaleItem"] = json!({"SaleItem": items});
        for field in ["TotalPrice", "NetPrice", "GrossPrice", "CommodityPrice"] {
            content[field] = json!(180);
        }
        content["DiscountValue"] = json!(0);
        content["ListOfSaleCondition"]["SaleCondition"][0]["PaymentValue"] = json!("180.00");
    });

    let receipt = send(&app, &sale).await;

    assert_eq!(status(&receipt), "ok", "{receipt:#}");
    assert!(codes(&receipt).is_empty(), "{receipt:#}");
    let numbers: Vec<i32> = app
        .rows::<(i32,)>("SELECT item_no FROM sale_items ORDER BY item_no")
        .await
        .into_iter()
        .map(|(number,)| number)
        .collect();
    assert_eq!(
        numbers,
        (1..=120).collect::<Vec<i32>>(),
        "ItemOrder is ignored and items renumbered"
    );
}
