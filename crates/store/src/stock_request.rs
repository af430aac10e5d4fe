//! StockLevel requests: the stock a sender asks for, answered in its
//! receipt's `ReturnContent` as this transaction sees the lots, in the
//! sender's own codes (the products and warehouses it named, the others
//! through reverse de/para) and in the list style it asked in. Nothing is
//! written but the inbox row and the receipt.

use chrono::Utc;
use eai_domain::{Directory, Entity};
use eai_protocol::events::{LotLevel, StockLevel, StockReturn, WarehouseLevel};
use eai_protocol::{Code, Detail, Envelope, Event, RequestedStock, ReturnContent, StockRequest};

use crate::db::Conn;
use crate::directory::{load_directories, load_products, Branch, DirectoryScope};
use crate::events::{outgoing, stock_lots, StockLot};
use crate::masters::Kept;
use crate::receive::{locate_all, read_all, Processed};
use crate::StoreError;

/// The most lots one answer lists (each ~250 bytes of JSON): a request whose
/// products hold more is refused, to be split, so its receipt stays far
/// below the envelope limit.
pub const MAX_ANSWERED_LOTS: usize = 20_000;

/// The answers to StockLevel request envelopes, in their order.
pub(crate) async fn answer_all(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    envelopes: &[&Envelope<'_>],
) -> Result<Vec<Processed>, StoreError> {
    let (mut processed, parsed) = read_all(
        envelopes.iter().map(|envelope| (*envelope, Event::Upsert)),
        |envelope, _| Ok((StockRequest::from_content(&envelope.content())?, None)),
    );
    let found = locate_all(conn, kept, &parsed, &mut processed).await?;
    for (index, request, namespace, branch) in found {
        // The company as the sender named it, echoed in each ReturnItem.
        let Some((.., named)) = parsed.iter().find(|(read, ..)| *read == index) else {
            continue;
        };
        processed[index] = answer(conn, kept, namespace, &named.company, &branch, request).await?;
    }
    Ok(processed)
}

/// One request's answer: every product and warehouse named must resolve
/// (else the refusal names each that does not), then their lots.
async fn answer(
    conn: &mut Conn<'_>,
    kept: Kept<'_>,
    namespace: &str,
    company: &str,
    branch: &Branch,
    request: &StockRequest,
) -> Result<Processed, StoreError> {
    let scope = DirectoryScope {
        namespace,
        branch: &branch.branch,
        wanted: request
            .requests
            .iter()
            .flat_map(|asked| {
                std::iter::once((Entity::Product, asked.product.clone())).chain(
                    asked
                        .warehouse
                        .clone()
                        .map(|(warehouse, _)| (Entity::Warehouse, warehouse)),
                )
            })
            .collect(),
    };
    let scopes = std::slice::from_ref(&scope);
    let mut directories = load_directories(conn, kept, scopes).await?;
    load_products(conn, kept, scopes, &mut directories).await?;
    let directory = &directories[0];
    let mut details = Vec::new();
    let resolved: Vec<Resolved<'_>> = request
        .requests
        .iter()
        .filter_map(|asked| resolve(directory, &branch.branch, asked, &mut details))
        .collect();
    if !details.is_empty() {
        return Ok(Processed::refused(details));
    }
    let products: Vec<&str> = resolved.iter().map(|found| found.product).collect();
    let lots = stock_lots(conn, &branch.branch, &products).await?;
    if lots.len() > MAX_ANSWERED_LOTS {
        return Ok(Processed::refused(vec![Detail::error(
            Code::InvalidField,
            format!(
                "$.Content.ListOfRequest: these products hold {} lots, an answer lists at most {MAX_ANSWERED_LOTS} (split the request)",
                lots.len()
            ),
        )]));
    }
    let ours: Vec<(Entity, &str)> = lots
        .iter()
        .map(|lot| (Entity::Warehouse, lot.warehouse.as_str()))
        .collect();
    let theirs = outgoing(conn, namespace, &ours).await?;
    let today = Utc::now().date_naive();
    let items = resolved
        .iter()
        .map(|found| StockLevel {
            company: company.to_owned(),
            branch: branch.branch.clone(),
            product: found.asked.product.clone(),
            reference_date: today,
            warehouses: found.warehouses(&lots, |warehouse| {
                theirs.code(Entity::Warehouse, warehouse).to_owned()
            }),
        })
        .collect();
    Ok(Processed::Answered(
        Vec::new(),
        ReturnContent::Stock(
            StockReturn {
                closing_stock_date: branch.closed_until,
                items,
            },
            request.style,
        ),
    ))
}

/// A request with our product and warehouse codes.
struct Resolved<'a> {
    asked: &'a RequestedStock,
    product: &'a str,
    warehouse: Option<&'a str>,
}

/// Our codes for what `asked` names, or `None` with each unknown code's
/// refusal recorded.
fn resolve<'a>(
    directory: &'a Directory,
    branch: &str,
    asked: &'a RequestedStock,
    details: &mut Vec<Detail>,
) -> Option<Resolved<'a>> {
    let product = directory.resolve(Entity::Product, &asked.product);
    if product.is_none() {
        details.push(Detail::error(
            Code::ProductNotFound,
            format!(
                "{}: product '{}' is not registered",
                asked.product_path, asked.product
            ),
        ));
    }
    let warehouse = match &asked.warehouse {
        None => None,
        Some((named, path)) => match directory.resolve(Entity::Warehouse, named) {
            Some(warehouse) => Some(warehouse),
            None => {
                details.push(Detail::error(
                    Code::WarehouseNotFound,
                    format!("{path}: warehouse '{named}' is not registered in branch '{branch}'"),
                ));
                return None;
            }
        },
    };
    Some(Resolved {
        asked,
        product: product?,
        warehouse,
    })
}

impl Resolved<'_> {
    /// The product's lots by warehouse: the one asked for (listed even when
    /// it holds nothing), else every warehouse holding a lot of it, named
    /// as the sender named it or as `theirs` says; the lot and sub-lot
    /// asked for only, if any was.
    fn warehouses(
        &self,
        lots: &[StockLot],
        theirs: impl Fn(&str) -> String,
    ) -> Vec<WarehouseLevel> {
        let mut levels: Vec<(&str, WarehouseLevel)> = Vec::new();
        if let (Some(ours), Some((named, _))) = (self.warehouse, &self.asked.warehouse) {
            levels.push((
                ours,
                WarehouseLevel {
                    warehouse: named.clone(),
                    lots: Vec::new(),
                },
            ));
        }
        let wanted = lots.iter().filter(|lot| {
            lot.product == self.product
                && self
                    .warehouse
                    .is_none_or(|warehouse| lot.warehouse == warehouse)
                && self
                    .asked
                    .lot
                    .as_ref()
                    .is_none_or(|asked| &lot.lot == asked)
                && self
                    .asked
                    .sublot
                    .as_ref()
                    .is_none_or(|asked| &lot.sublot == asked)
        });
        for lot in wanted {
            let level: LotLevel = lot.level();
            match levels
                .iter_mut()
                .find(|(warehouse, _)| *warehouse == lot.warehouse)
            {
                Some((_, listed)) => listed.lots.push(level),
                None => levels.push((
                    &lot.warehouse,
                    WarehouseLevel {
                        warehouse: theirs(&lot.warehouse),
                        lots: vec![level],
                    },
                )),
            }
        }
        levels.into_iter().map(|(_, level)| level).collect()
    }
}
