//! SPEC §2's parsing rules, one test each, through the public API as the
//! receiver uses it: bytes → [`Envelope`] → [`Node`] / [`ItemReserve`].

use eai_protocol::{Code, Envelope, Event, ItemReserve, Rejection, Timestamp, MAX_ENVELOPE_BYTES};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("valid decimal")
}

fn parse(body: &str) -> Envelope<'static> {
    Envelope::parse(body.as_bytes())
        .unwrap_or_else(|rejection| panic!("{rejection}"))
        .detach()
}

fn envelope_with(content: Value) -> Envelope<'static> {
    let body = json!({
        "Header": {"UUID": "9b3c5a84-2f4e-4a8e-9a51-8f3b8f3c0d11", "Transaction": "RetailSales", "Version": "2.000"},
        "Content": content
    });
    parse(&body.to_string())
}

#[test]
fn keys_match_case_insensitively() {
    // A destination's receipt as some senders spell it: every key in another case.
    let env = parse(
        r#"{"header": {"uuid": "u-1", "TYPE": "ReceiptMessage"},
            "content": {"PROCESSINGINFORMATION": {"status": "OK"},
                        "returnContent": {"ListOfInternalID": [{"name": "RetailSales", "ORIGIN": "a", "destination": "b"}]}}}"#,
    );
    assert_eq!(env.uuid(), "u-1");
    let content = env.content();
    let status = content
        .get("ProcessingInformation")
        .and_then(|info| info.text("Status").ok().flatten());
    assert!(
        status.is_some_and(|s| s.eq_ignore_ascii_case("ok")),
        "OK = ok"
    );
    let ids = content
        .get("ReturnContent")
        .map(|r| r.list("ListOfInternalId", "InternalId"))
        .expect("ReturnContent found")
        .expect("a list");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].path(), "$.Content.ReturnContent.ListOfInternalId[0]");
    assert_eq!(ids[0].text("Origin"), Ok(Some("a".into())));
    assert_eq!(ids[0].text("Destination"), Ok(Some("b".into())));
}

#[test]
fn lists_come_wrapped_plain_or_as_a_single_wrapped_object() {
    let item = json!({"ItemCode": "P001", "Quantity": 2});
    let forms = [
        (
            json!({"Item": [item.clone(), item.clone()]}),
            2,
            "$.Content.ReserveItemType.Item[1]",
        ),
        (
            json!([item.clone(), item.clone()]),
            2,
            "$.Content.ReserveItemType[1]",
        ),
        (
            json!({"Item": item.clone()}),
            1,
            "$.Content.ReserveItemType.Item",
        ),
        (
            json!({"item": [item.clone()]}),
            1,
            "$.Content.ReserveItemType.Item[0]",
        ),
    ];
    for (items, count, last_path) in forms {
        let env = envelope_with(json!({
            "InternalId": "R-1", "ReserveType": "VD", "DocumentReserve": "D-1",
            "ReserveItemType": items
        }));
        let reserve = ItemReserve::from_content(&env.content(), Event::Upsert).expect("valid");
        assert_eq!(reserve.items.len(), count);
        assert_eq!(
            reserve.items.last().map(|i| i.path.as_str()),
            Some(last_path)
        );
        assert!(reserve.items.iter().all(|i| i.quantity == dec("2")));
    }
    let sale = envelope_with(
        json!({"ListOfSaleItem": {"SaleItem": [{"UnitPrice": 1}, {"UnitPrice": 2}]}}),
    );
    let items = sale
        .content()
        .list("ListOfSaleItem", "SaleItem")
        .expect("a list");
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].path(), "$.Content.ListOfSaleItem.SaleItem[1]");
}

#[test]
fn numbers_come_as_json_numbers_or_strings_with_either_separator() {
    let env = parse(
        r#"{"Header": {"UUID": "u"}, "Content": {"A": 350.20, "B": "350,20", "C": "350.20", "D": "885", "E": 885, "F": 41.92}}"#,
    );
    let content = env.content();
    for key in ["A", "B", "C"] {
        assert_eq!(content.decimal(key), Ok(Some(dec("350.20"))), "{key}");
    }
    assert_eq!(content.decimal("D"), Ok(Some(dec("885"))));
    assert_eq!(content.decimal("E"), Ok(Some(dec("885"))));
    assert_eq!(
        content.decimal("F").map(|d| d.map(|d| d.to_string())),
        Ok(Some("41.92".into())),
        "no binary floating point on the way"
    );
}

#[test]
fn thousands_separators_are_invalid_fields_naming_the_path() {
    let env = envelope_with(json!({
        "ListOfSaleCondition": {"SaleCondition": [{"PaymentValue": "1.234,5"}, {"PaymentValue": "1,234.5"}]}
    }));
    let payments = env
        .content()
        .list("ListOfSaleCondition", "SaleCondition")
        .expect("a list");
    let expected = |index: usize, got: &str| {
        format!(
            "$.Content.ListOfSaleCondition.SaleCondition[{index}].PaymentValue: expected a decimal number with '.' or ',' as decimal separator and no thousands separator, got \"{got}\""
        )
    };
    let first = payments[0].decimal("PaymentValue").expect_err("1.234,5");
    assert_eq!(first.code, Code::InvalidField);
    assert_eq!(first.message, expected(0, "1.234,5"));
    let second = payments[1].decimal("PaymentValue").expect_err("1,234.5");
    assert_eq!(second.message, expected(1, "1,234.5"));
}

#[test]
fn dates_come_in_five_forms_and_blank_or_null_is_absent() {
    let env = envelope_with(json!({
        "Zoned": "2020-04-23T17:01:06.625349+00:00",
        "Local": "2022-03-30T00:00:00",
        "Date": "2021-06-18",
        "Rfc2822": "Thu, 23 Apr 2020 17:02:20 GMT",
        "Blank": "",
        "Null": null,
        "Wrong": "23/04/2020"
    }));
    let content = env.content();
    let utc = |key: &str| {
        content
            .timestamp(key)
            .ok()
            .flatten()
            .map(|t| t.to_utc().to_rfc3339())
    };
    assert!(matches!(
        content.timestamp("Zoned"),
        Ok(Some(Timestamp::Zoned(_)))
    ));
    assert_eq!(
        utc("Zoned").as_deref(),
        Some("2020-04-23T17:01:06.625349+00:00")
    );
    assert!(matches!(
        content.timestamp("Local"),
        Ok(Some(Timestamp::Local(_)))
    ));
    assert_eq!(utc("Local").as_deref(), Some("2022-03-30T00:00:00+00:00"));
    assert!(matches!(
        content.timestamp("Date"),
        Ok(Some(Timestamp::Date(_)))
    ));
    assert_eq!(utc("Date").as_deref(), Some("2021-06-18T00:00:00+00:00"));
    assert!(matches!(
        content.timestamp("Rfc2822"),
        Ok(Some(Timestamp::Zoned(_)))
    ));
    assert_eq!(utc("Rfc2822").as_deref(), Some("2020-04-23T17:02:20+00:00"));
    assert_eq!(content.timestamp("Blank"), Ok(None));
    assert_eq!(content.timestamp("Null"), Ok(None));
    assert_eq!(content.timestamp("Absent"), Ok(None));
    let wrong = content.timestamp("Wrong").expect_err("not a date form");
    assert_eq!(wrong.code, Code::InvalidField);
    assert!(
        wrong
            .message
            .starts_with("$.Content.Wrong: expected a date/time"),
        "{}",
        wrong.message
    );
}

#[test]
fn content_event_wins_over_header_event_in_any_case() {
    let body = |header_event: &str, content_event: &str| {
        format!(
            r#"{{"Header": {{"UUID": "u", "Event": "{header_event}"}}, "Content": {{"EVENT": "{content_event}"}}}}"#
        )
    };
    assert_eq!(parse(&body("upsert", "Delete")).event(), Ok(Event::Delete));
    assert_eq!(parse(&body("DELETE", "UPSERT")).event(), Ok(Event::Upsert));
    assert_eq!(parse(&body("Delete", "")).event(), Ok(Event::Delete));
    let header_only = parse(r#"{"Header": {"UUID": "u", "event": "dElEtE"}, "Content": {}}"#);
    assert_eq!(header_only.event(), Ok(Event::Delete));
    let bad = parse(&body("upsert", "cancel"))
        .event()
        .expect_err("unsupported");
    assert_eq!(bad.code, Code::EventNotSupported);
    assert!(
        bad.message.starts_with("$.Content.Event: "),
        "{}",
        bad.message
    );
}

/// A RetailSales envelope of at least `target` bytes and its item count; each
/// item carries a long description, as real catalogues do.
fn big_envelope(target: usize) -> (String, usize) {
    let description = "Dipirona monoidratada 500mg comprimido caixa com 20 unidades ".repeat(20);
    let mut body = String::with_capacity(target + 4096);
    body.push_str(r#"{"Header": {"UUID": "big-1", "Transaction": "RetailSales", "Version": "2.000"}, "Content": {"ListOfSaleItem": {"SaleItem": ["#);
    let mut count = 0;
    while body.len() < target {
        if count > 0 {
            body.push(',');
        }
        count += 1;
        body.push_str(&format!(
            r#"{{"ItemOrder": {count}, "ItemCode": "P{count:06}", "Quantity": 1, "UnitPrice": "10,{:02}", "ItemDescription": "{description}"}}"#,
            count % 100
        ));
    }
    body.push_str("]}}}");
    (body, count)
}

#[test]
fn envelopes_up_to_30_mib_are_accepted_and_larger_ones_refused() {
    let (body, count) = big_envelope(29 * 1024 * 1024);
    assert!(count > 10_000, "thousands of items: {count}");
    assert!(body.len() < MAX_ENVELOPE_BYTES);
    let env = parse(&body);
    let items = env
        .content()
        .list("ListOfSaleItem", "SaleItem")
        .expect("a list");
    assert_eq!(items.len(), count);
    let last = items.last().expect("items");
    assert_eq!(
        last.path(),
        format!("$.Content.ListOfSaleItem.SaleItem[{}]", count - 1)
    );
    assert_eq!(
        last.decimal("UnitPrice"),
        Ok(Some(dec(&format!("10.{:02}", count % 100))))
    );

    let mut exactly_max = body.into_bytes();
    exactly_max.resize(MAX_ENVELOPE_BYTES, b' ');
    assert!(
        Envelope::parse(&exactly_max).is_ok(),
        "exactly 30 MiB is accepted"
    );
    exactly_max.push(b' ');
    let rejection = Envelope::parse(&exactly_max).expect_err("one byte too many");
    assert_eq!(
        rejection,
        Rejection::TooLarge {
            size: MAX_ENVELOPE_BYTES + 1
        }
    );
    assert_eq!(rejection.code(), Code::InvalidEnvelope);
    assert_eq!(
        rejection.to_string(),
        "INVALID_ENVELOPE: body of 31457281 bytes exceeds the 30 MiB limit"
    );
}

#[test]
fn non_json_is_invalid_json_with_line_and_column() {
    let xml = Envelope::parse(b"<?xml version=\"1.0\"?><TOTVSMessage/>").expect_err("XML");
    assert_eq!(
        xml,
        Rejection::InvalidJson {
            line: 1,
            column: 1,
            message: "expected value".into()
        }
    );
    let truncated = Envelope::parse(b"{\"Header\": {\"UUID\": \"u\"},\n \"Content\": {\"A\": 1")
        .expect_err("truncated");
    assert_eq!(
        truncated,
        Rejection::InvalidJson {
            line: 2,
            column: 19,
            message: "EOF while parsing an object".into()
        }
    );
    assert_eq!(truncated.code(), Code::InvalidJson);
}

#[test]
fn missing_or_empty_uuid_is_an_invalid_envelope() {
    for (body, reason) in [
        (
            r#"{"Header": {"Transaction": "RetailSales"}, "Content": {}}"#,
            "$.Header.UUID: missing",
        ),
        (
            r#"{"Header": {"UUID": ""}, "Content": {}}"#,
            "$.Header.UUID: empty",
        ),
        (
            r#"{"Header": {"UUID": null}, "Content": {}}"#,
            "$.Header.UUID: missing",
        ),
        (r#"{"Content": {}}"#, "$.Header: missing or not an object"),
        ("\"just a string\"", "$: the body is not a JSON object"),
    ] {
        let rejection = Envelope::parse(body.as_bytes()).expect_err(body);
        assert_eq!(rejection.code(), Code::InvalidEnvelope, "{body}");
        assert_eq!(rejection.to_string(), format!("INVALID_ENVELOPE: {reason}"));
    }
}

#[test]
fn field_errors_carry_the_json_path() {
    let env = envelope_with(json!({
        "InternalId": "R-1", "ReserveType": "VD", "DocumentReserve": "D-1",
        "reserveitemtype": {"ITEM": [
            {"ItemCode": "P001", "Quantity": 1},
            {"ItemCode": "P002", "Quantity": "dois", "LotNumber": ["L1"]}
        ]}
    }));
    let details = ItemReserve::from_content(&env.content(), Event::Upsert).expect_err("invalid");
    let messages: Vec<(Code, &str)> = details
        .iter()
        .map(|d| (d.code, d.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                Code::QuantityInvalid,
                "$.Content.ReserveItemType.Item[1].Quantity: expected a number greater than zero, got \"dois\""
            ),
            (
                Code::InvalidField,
                "$.Content.ReserveItemType.Item[1].LotNumber: expected a string, got [\"L1\"]"
            ),
        ]
    );
}
