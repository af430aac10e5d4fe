//! `eai usage` and `eai export`: the usage report (seed 004) and the export
//! of integrated sales with confirmation (seed 003).

use eai_store::export::ExportRequest;
use eai_store::log::Acted;
use eai_store::usage::UsageFilter;

use super::messages::print_json;
use crate::api::usage::UsageReport;
use crate::app::open_store;
use crate::config::Settings;

/// `eai usage`
pub async fn usage(settings: &Settings, filter: &UsageFilter, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let page = store.usage(filter).await?;
    if json {
        return print_json(&UsageReport {
            from: filter.from,
            to: filter.to,
            page,
        });
    }
    println!("usage from {} to {}", filter.from, filter.to);
    println!(
        "{:<12}  {:<20}  {:<13}  {:<26}  {:>10}  {:>10}",
        "company", "cnpj", "environment", "transaction", "envelopes", "attempts"
    );
    for company in &page.items {
        for (environment, usage) in [
            ("production", &company.production),
            ("homologation", &company.homologation),
        ] {
            for line in &usage.transactions {
                println!(
                    "{:<12}  {:<20}  {:<13}  {:<26}  {:>10}  {:>10}",
                    company.company,
                    company.cnpj.as_deref().unwrap_or(""),
                    environment,
                    line.transaction,
                    line.envelopes,
                    line.attempts
                );
            }
        }
    }
    if !page.next_cursor.is_empty() {
        println!("(more: --cursor {})", page.next_cursor);
    }
    Ok(())
}

/// `eai export take`
pub async fn take(
    settings: &Settings,
    request: &ExportRequest,
    json: bool,
) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let batch = store.export(request).await?;
    if json {
        print_json(&batch)?;
        return Ok(batch.batch.is_some());
    }
    let Some(number) = batch.batch else {
        println!("nothing to export for {}", request.consumer);
        return Ok(false);
    };
    let again = if batch.again {
        " (again: not confirmed yet)"
    } else {
        ""
    };
    println!(
        "batch {number} for {} ({}){again}: {} sale(s), more pending: {}",
        batch.consumer,
        batch.mode.as_str(),
        batch.sales.len(),
        if batch.more { "yes" } else { "no" }
    );
    for sale in &batch.sales {
        println!(
            "  {:<10} {:<8} {:<12} {:<20} {:<10} {:>12}",
            sale.branch,
            sale.number,
            sale.document_code,
            sale.internal_id,
            sale.status,
            sale.total_price
        );
    }
    println!("confirm with: eai export confirm {number}");
    Ok(true)
}

/// `eai export confirm BATCH`; false when there is no such open batch.
pub async fn confirm(settings: &Settings, number: i64, json: bool) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let acted = store.confirm_export(number).await?;
    let (confirmed, message) = match acted {
        Acted::Done => (true, format!("batch {number} confirmed")),
        Acted::NotFound => (false, format!("no batch {number}")),
        Acted::Refused(why) | Acted::Unavailable(why) => (false, why),
    };
    if json {
        print_json(
            &serde_json::json!({"batch": number, "confirmed": confirmed, "message": message}),
        )?;
    } else if confirmed {
        println!("{message}");
    } else {
        eprintln!("{message}");
    }
    Ok(confirmed)
}
