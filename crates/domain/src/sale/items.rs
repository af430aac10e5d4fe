//! Each sale item normalised and resolved: product, quantity, unit price,
//! operation code, TES and warehouse.
//!
//! The TES is the product's own (`B1_TS`), else the operation rule for the
//! item's `OperationCode` ("TES Inteligente"), as in Protheus.

use eai_protocol::{Code, Detail, RetailSale, SaleItem};
use rust_decimal::Decimal;

use super::lots::Taken;
use super::{informed, PlannedItem, SaleMasterData, SaleProduct};
use crate::exact;
use crate::mapping::Entity;
use crate::reservation::check_quantity;

/// One item after the item rules; `None` fields had an error (or are not known).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CheckedItem<'a> {
    pub source: &'a SaleItem,
    /// The product, found (even when blocked, which is its own error).
    pub product: Option<&'a SaleProduct>,
    /// The quantity, when present, positive and storable.
    pub quantity: Option<Decimal>,
    /// The given warehouse, resolved to a warehouse of the branch.
    pub warehouse: Option<String>,
    pub operation: Option<String>,
    pub tes: Option<String>,
    /// `ItemTablePrice`, normalised (absent or zero → `UnitPrice`).
    pub table_price: Option<Decimal>,
    /// `ItemPrice`, normalised (absent or zero → `Quantity × UnitPrice`);
    /// `None` also when that product is beyond the decimal range (an error).
    pub item_price: Option<Decimal>,
}

impl CheckedItem<'_> {
    /// The planned item; `None` if any part is unresolved (an error was reported).
    pub fn plan(&self, taken: &Taken) -> Option<PlannedItem> {
        let product = self.product?;
        let warehouse = self
            .warehouse
            .clone()
            .or_else(|| taken.warehouse.clone())
            .or_else(|| product.default_warehouse.clone());
        Some(PlannedItem {
            item_no: self.source.item_no,
            product: product.code.clone(),
            warehouse,
            quantity: self.quantity?,
            unit_price: self.source.unit_price?,
            table_price: self.table_price?,
            item_price: self.item_price?,
            discount_amount: self.source.discount_amount,
            freight_prorated: self.source.freight_prorated,
            increase_prorated: self.source.increase_prorated,
            operation_code: self.operation.clone()?,
            tes: self.tes.clone()?,
            reservation_id: taken.reservation_id,
            lots: taken.lots.clone(),
            delivery_type: self.source.delivery_type.clone(),
            information: self.source.information.clone(),
        })
    }
}

/// Checks every item, in item order.
pub(super) fn check<'a>(
    sale: &'a RetailSale,
    master: &'a SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Vec<CheckedItem<'a>> {
    sale.items
        .iter()
        .map(|item| check_item(item, master, errors))
        .collect()
}

fn check_item<'a>(
    item: &'a SaleItem,
    master: &'a SaleMasterData,
    errors: &mut Vec<Detail>,
) -> CheckedItem<'a> {
    let path = &item.path;
    let product = product(item, master, errors);
    let quantity = quantity(item, errors);
    if item.unit_price.is_none() {
        errors.push(Detail::error(
            Code::UnitPriceMissing,
            format!("{path}.UnitPrice: the unit price is not informed"),
        ));
    }
    let operation_code = informed(&item.operation_code);
    if operation_code.is_none() {
        errors.push(Detail::error(
            Code::OperationCodeMissing,
            format!("{path}.OperationCode: the operation code is not informed"),
        ));
    }
    let operation = operation_code.map(|code| {
        master
            .directory
            .resolve(Entity::Operation, code)
            .unwrap_or(code)
            .to_owned()
    });
    let tes = match (product, &operation) {
        (Some(product), _) if informed(&product.tes).is_some() => product.tes.clone(),
        (Some(product), Some(operation)) => {
            let rule = master.operations.get(operation).cloned();
            if rule.is_none() {
                errors.push(tes_not_found(item, &product.code, operation));
            }
            rule
        }
        // Unknown product or no operation code: already reported.
        _ => None,
    };
    let warehouse = warehouse(item, master, errors);
    let item_price = item_price(item, errors);
    CheckedItem {
        source: item,
        product,
        quantity,
        warehouse,
        operation,
        tes,
        table_price: item
            .table_price
            .filter(|price| !price.is_zero())
            .or(item.unit_price),
        item_price,
    }
}

/// `ItemPrice`, else (absent or zero) `Quantity × UnitPrice` as the parser
/// computes it, from the quantity as received; `None` when either is unknown
/// (their own errors say so) or when the product leaves the decimal range,
/// which is an `INVALID_FIELD` on `ItemPrice`.
fn item_price(item: &SaleItem, errors: &mut Vec<Detail>) -> Option<Decimal> {
    if let Some(price) = item.item_price.filter(|price| !price.is_zero()) {
        return Some(price);
    }
    let (quantity, unit) = item.quantity.zip(item.unit_price)?;
    exact::product(quantity, unit)
        .map_err(|overflow| {
            errors.push(Detail::error(
                Code::InvalidField,
                format!(
                    "{}.ItemPrice: ItemPrice is not informed, and Quantity {quantity} × UnitPrice {unit} is {overflow}",
                    item.path
                ),
            ));
        })
        .ok()
}

fn product<'a>(
    item: &SaleItem,
    master: &'a SaleMasterData,
    errors: &mut Vec<Detail>,
) -> Option<&'a SaleProduct> {
    let path = &item.path;
    let Some(external) = informed(&item.product) else {
        errors.push(Detail::error(
            Code::ProductNotFound,
            format!("{path}.ItemCode: the product is not informed"),
        ));
        return None;
    };
    let Some(product) = master
        .directory
        .resolve(Entity::Product, external)
        .and_then(|code| master.products.get(code))
    else {
        errors.push(Detail::error(
            Code::ProductNotFound,
            format!("{path}.ItemCode: product '{external}' has no de/para mapping and is not a product code"),
        ));
        return None;
    };
    if product.blocked {
        errors.push(Detail::error(
            Code::ProductBlocked,
            format!("{path}.ItemCode: product {} is blocked", product.code),
        ));
    }
    Some(product)
}

fn quantity(item: &SaleItem, errors: &mut Vec<Detail>) -> Option<Decimal> {
    let path = &item.path;
    let detail = match item.quantity {
        None => Detail::error(
            Code::QuantityInvalid,
            format!("{path}.Quantity: the quantity is not informed"),
        ),
        Some(quantity) if quantity <= Decimal::ZERO => Detail::error(
            Code::QuantityInvalid,
            format!("{path}.Quantity: the quantity must be greater than zero, got {quantity}"),
        ),
        Some(quantity) => match check_quantity(quantity, path) {
            Ok(()) => return Some(quantity),
            Err(detail) => detail,
        },
    };
    errors.push(detail);
    None
}

/// Protheus' wording, naming the places a TES can come from.
fn tes_not_found(item: &SaleItem, product: &str, operation: &str) -> Detail {
    Detail::error(
        Code::TesNotFound,
        format!(
            "{}.OperationCode: Inconsistência no item {}: TES não informada, verifique o cadastro do produto {product} (campo B1_TS) e/ou as regras de TES Inteligente da operação '{operation}'",
            item.path, item.item_no
        ),
    )
}

/// The given warehouse, which must resolve to a warehouse of the branch.
fn warehouse(item: &SaleItem, master: &SaleMasterData, errors: &mut Vec<Detail>) -> Option<String> {
    let external = informed(&item.warehouse)?;
    let found = master
        .directory
        .resolve(Entity::Warehouse, external)
        .filter(|code| master.directory.is_internal(Entity::Warehouse, code));
    if found.is_none() {
        errors.push(Detail::error(
            Code::WarehouseNotFound,
            format!(
                "{}.WarehouseInternalId: warehouse '{external}' is not a warehouse of this branch",
                item.path
            ),
        ));
    }
    found.map(str::to_owned)
}
