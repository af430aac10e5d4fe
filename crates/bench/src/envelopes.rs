//! The bench's master data and envelopes: a company with one branch of
//! 1,000 products × 5 lots, one of 100,000 lots (20,000 products × 5 lots:
//! the same lots per item, twenty times the branch), and the streams that run
//! against them — ItemReserves of three products and the RetailSales that
//! consume them, every one of which must be answered `ok`.

use serde_json::{json, Value};

/// The company every envelope names.
pub const COMPANY: &str = "BENCH";
/// The branch of 1,000 products × 5 lots.
pub const BRANCH: &str = "B5K";
/// The branch of 100,000 lots: every product of the catalogue, 5 lots each.
pub const LARGE_BRANCH: &str = "B100K";
/// The branch the sender's outbound messages are routed from.
pub const DRAIN_BRANCH: &str = "BDRAIN";
/// Products the envelopes name (and the small branch stocks).
pub const PRODUCTS: usize = 1_000;
/// Products in the catalogue (the large branch stocks them all).
pub const CATALOGUE: usize = 20_000;
/// Lots of each product in a branch.
pub const LOTS_PER_PRODUCT: usize = 5;
/// The platform sending the envelopes (the de/para namespace).
const PLATFORM: &str = "SHOP";
/// Every sale's issue date, after the branches' closing.
const ISSUED: &str = "2026-03-30T17:00:39+00:00";

/// A product's ERP code.
fn product(index: usize) -> String {
    format!("P{index:04}")
}

/// The platform's id of a product (mapped to [`product`] by de/para).
fn item_code(index: usize) -> String {
    format!("sku-{index:04}")
}

/// Everything but the lots (which [`crate::setup`] writes with one statement
/// each branch) and the destination (which needs the bench's HTTP address).
pub fn master_data() -> Value {
    let branch = |code: &str| {
        json!({"company": COMPANY, "branch": code, "closed_until": "2020-01-31",
               "released_payment_methods": ["CC"], "reserve_without_stock": false})
    };
    let products: Vec<Value> = (0..CATALOGUE)
        .map(|index| {
            json!({"code": product(index), "description": format!("Produto {index}"),
                   "blocked": false, "default_warehouse": "01", "tes": "501", "lot_tracked": true})
        })
        .collect();
    let mappings: Vec<Value> = (0..PRODUCTS)
        .map(|index| {
            json!({"namespace": PLATFORM, "entity": "Product", "external": item_code(index),
                   "internal": product(index)})
        })
        .collect();
    let branches = [BRANCH, LARGE_BRANCH, DRAIN_BRANCH];
    json!({
        "companies": [{"code": COMPANY, "name": "Bench Ltda", "cnpj": "11.222.333/0001-81"}],
        "branches": branches.map(branch),
        "products": products,
        "customers": [{"code": "C001", "name": "Maria da Silva", "blocked": false}],
        "warehouses": branches.map(|code| json!({"branch": code, "code": "01"})),
        "stations": branches.map(|code| json!({"branch": code, "code": "SITE", "series": "A01"})),
        "operators": [{"code": "SITE"}],
        "payment_methods": [{"code": "CC", "requires_financial_manager": true}],
        "financial_managers": [{"code": "CARTAO", "days": 30, "own_financing": false}],
        "carriers": [{"code": "01"}],
        "operations": [{"operation": "01", "tes": "501"}],
        "mappings": mappings,
    })
}

/// An HTTP destination of the drain branch's StockLevel messages.
pub fn destination(url: &str) -> Value {
    json!({"destinations": [{"name": "bench", "company": COMPANY, "branch": DRAIN_BRANCH,
        "transaction": "StockLevel", "kind": "http", "url": url, "timeout_ms": 10000}]})
}

fn header(uuid: &str, transaction: &str, branch: &str) -> Value {
    json!({"UUID": uuid, "Type": "BusinessMessage", "Transaction": transaction,
           "Version": "2.000", "SourceApplication": PLATFORM, "ProductName": PLATFORM,
           "CompanyId": COMPANY, "BranchId": branch})
}

/// The three distinct products envelope `n` is about (spread over the catalogue).
fn products_of(n: usize) -> [usize; 3] {
    let first = (n * 7) % PRODUCTS;
    [first, (first + 331) % PRODUCTS, (first + 662) % PRODUCTS]
}

/// Reservation `n`'s InternalId in run `run` (unique across the bench's database).
pub fn reservation_id(run: &str, n: usize) -> String {
    format!("{run}-R{n}")
}

/// ItemReserve `n`: one unit of each of three products, in `branch`.
pub fn item_reserve(uuid: &str, run: &str, n: usize, branch: &str) -> Vec<u8> {
    let internal_id = reservation_id(run, n);
    let items: Vec<Value> = products_of(n)
        .iter()
        .map(|&index| json!({"ItemCode": item_code(index), "WarehouseCode": "01", "Quantity": 1}))
        .collect();
    json!({"Header": header(uuid, "ItemReserve", branch),
           "Content": {"InternalId": internal_id, "ReserveType": "VD",
                       "DocumentReserve": internal_id,
                       "ReserveItemType": {"Item": items}}})
    .to_string()
    .into_bytes()
}

/// RetailSales `n`: the three products of ItemReserve `n`, consuming it,
/// 10.00 each, paid by card.
pub fn retail_sale(uuid: &str, run: &str, n: usize) -> Vec<u8> {
    let reservation = reservation_id(run, n);
    let items: Vec<Value> = products_of(n)
        .iter()
        .map(|&index| {
            json!({"ItemInternalId": item_code(index), "ItemReserveInternalId": reservation,
                   "Quantity": 1, "UnitPrice": 10, "ItemPrice": 10,
                   "FreightValueProrated": 0, "IncreaseValueProrated": 0, "OperationCode": "01"})
        })
        .collect();
    sale(uuid, &format!("{run}-S{n}"), BRANCH, items, 30)
}

/// A RetailSales of `items` items without reservations, each carrying a
/// long description, so that the body is about `target_bytes`.
pub fn large_sale(uuid: &str, run: &str, items: usize, target_bytes: usize) -> Vec<u8> {
    let filler = (target_bytes / items).saturating_sub(260);
    let list: Vec<Value> = (0..items)
        .map(|n| {
            json!({"ItemInternalId": item_code(n % PRODUCTS), "ItemDescription": prose(n, filler),
                   "Quantity": 1, "UnitPrice": 1, "ItemPrice": 1,
                   "FreightValueProrated": 0, "IncreaseValueProrated": 0, "OperationCode": "01"})
        })
        .collect();
    sale(uuid, &format!("{run}-LARGE"), BRANCH, list, items)
}

/// About `bytes` of text that compresses as a product description does, not
/// as a run of one letter: words of two to four syllables drawn by a
/// generator seeded with `seed`, so each item's text differs.
fn prose(seed: usize, bytes: usize) -> String {
    const SYLLABLES: [&str; 32] = [
        "ca", "mi", "sa", "to", "re", "pe", "li", "nho", "ção", "dor", "men", "te", "bra", "zil",
        "al", "go", "dão", "ver", "de", "azul", "pro", "du", "to", "fi", "no", "gran", "de", "lu",
        "xo", "tam", "bém", "que",
    ];
    let mut state = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % bound as u64).unwrap_or(0)
    };
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        for _ in 0..2 + next(3) {
            text.push_str(SYLLABLES[next(SYLLABLES.len())]);
        }
        text.push(' ');
    }
    text
}

fn sale(uuid: &str, internal_id: &str, branch: &str, items: Vec<Value>, total: usize) -> Vec<u8> {
    json!({"Header": header(uuid, "RetailSales", branch),
           "Content": {"InternalId": internal_id, "DocumentCode": internal_id,
                       "IssueDateDocument": ISSUED,
                       "CustomerVendorInternalId": "C001", "CarrierCode": "01",
                       "StationSalePointInternalId": "SITE", "OperatorCode": "SITE",
                       "SaleType": "V", "TotalPrice": total, "NetPrice": total,
                       "GrossPrice": total, "CommodityPrice": total, "DiscountValue": 0,
                       "FreightValue": 0, "IncreaseValue": 0,
                       "ListOfSaleItem": {"SaleItem": items},
                       "ListOfSaleCondition": {"SaleCondition": [{
                           "DateOfPayment": "2026-03-30T00:00:00", "PaymentValue": total,
                           "PaymentMethodCode": "CC", "FinancialManagerCode": "CARTAO"}]}}})
    .to_string()
    .into_bytes()
}

/// A StockLevel message for the sender to deliver.
pub fn stock_level(uuid: &str, n: usize) -> String {
    json!({"Header": header(uuid, "StockLevel", DRAIN_BRANCH),
           "Content": {"InternalId": format!("doc-{n}")}})
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_names_three_distinct_products() {
        for n in 0..5_000 {
            let [a, b, c] = products_of(n);
            assert!(a != b && b != c && a != c, "envelope {n}");
        }
    }

    #[test]
    fn the_large_sale_is_about_the_size_asked() {
        let body = large_sale("u", "r", 1_000, 3_000_000);
        let size = body.len() as f64;
        assert!((size / 3_000_000.0 - 1.0).abs() < 0.05, "{size} bytes");
    }
}
