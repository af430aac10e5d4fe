//! `eai mappings list|set|delete`: de/para one by one.

use eai_domain::Entity;
use eai_store::mappings::MappingFilter;

use super::messages::print_json;
use crate::app::open_store;
use crate::config::Settings;

/// `eai mappings list`
pub async fn list(settings: &Settings, filter: &MappingFilter, json: bool) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let page = store.mappings(filter).await?;
    if json {
        return print_json(&page);
    }
    println!(
        "{:<16}  {:<16}  {:<40}  internal",
        "namespace", "entity", "external"
    );
    for mapping in &page.items {
        println!(
            "{:<16}  {:<16}  {:<40}  {}",
            mapping.namespace, mapping.entity, mapping.external, mapping.internal
        );
    }
    if !page.next_cursor.is_empty() {
        println!("(more: --cursor {})", page.next_cursor);
    }
    Ok(())
}

/// `eai mappings set NAMESPACE ENTITY EXTERNAL INTERNAL`
pub async fn set(
    settings: &Settings,
    namespace: &str,
    entity: Entity,
    external: &str,
    internal: &str,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let created = store
        .set_mapping(namespace, entity, external, internal)
        .await?;
    if json {
        return print_json(&serde_json::json!({
            "namespace": namespace, "entity": entity.as_str(), "external": external,
            "internal": internal, "created": created,
        }));
    }
    let verb = if created { "created" } else { "replaced" };
    println!("{verb}: {namespace} {entity} {external} → {internal}");
    Ok(())
}

/// `eai mappings delete NAMESPACE ENTITY EXTERNAL`; false when there was none.
pub async fn delete(
    settings: &Settings,
    namespace: &str,
    entity: Entity,
    external: &str,
    json: bool,
) -> anyhow::Result<bool> {
    let store = open_store(settings).await?;
    let deleted = store.delete_mapping(namespace, entity, external).await?;
    if json {
        print_json(&serde_json::json!({"deleted": deleted}))?;
    } else if deleted {
        println!("deleted: {namespace} {entity} {external}");
    } else {
        eprintln!("no mapping {namespace} {entity} {external}");
    }
    Ok(deleted)
}
