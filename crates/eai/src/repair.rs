//! The repairs that put a message back on the broker, shared by the API and
//! the CLI: processing an inbound error again, and replaying a dead letter.

use eai_store::log::{Acted, ItemId};
use eai_store::{Store, StoreError};
use eai_transport::{Outgoing, Publisher, Topology};

/// Retries `id`: an inbound envelope answered with an error is processed
/// again (its stored body republished, answered where its first receipt
/// went); an outbound message is sent again now with its attempts reset.
pub async fn retry(
    store: &Store,
    publisher: &Publisher,
    topology: &Topology,
    id: ItemId,
    actor: &str,
    note: &str,
) -> Result<Acted, StoreError> {
    if !matches!(id, ItemId::Inbound(_)) {
        return store.retry_outbound(id, actor, note).await;
    }
    store
        .reprocess(id, actor, note, |again| async move {
            let reply_to = again
                .reply_exchange
                .is_empty()
                .then_some(again.reply_routing_key.as_str());
            publisher
                .publish(&Outgoing {
                    exchange: &topology.inbound_exchange,
                    routing_key: &again.transaction,
                    body: &again.body,
                    reply_to,
                    mandatory: true,
                    headers: vec![("x-eai-retried-by", actor.to_owned())],
                    ..Outgoing::default()
                })
                .await
                .map_err(|error| error.to_string())
        })
        .await
}

/// Replays dead letter `number` to where it was first published (with
/// `only_open`, not if it was replayed meanwhile: a bulk replay).
pub async fn replay(
    store: &Store,
    publisher: &Publisher,
    number: i64,
    actor: &str,
    only_open: bool,
) -> Result<Acted, StoreError> {
    store
        .replay_dead_letter(number, actor, only_open, |replay| async move {
            publisher
                .publish(&Outgoing {
                    exchange: &replay.exchange,
                    routing_key: &replay.routing_key,
                    body: &replay.body,
                    correlation_id: replay.correlation_id.as_deref(),
                    message_id: replay.message_id.as_deref(),
                    reply_to: replay.reply_to.as_deref(),
                    mandatory: true,
                    headers: vec![(
                        "x-eai-replayed-from",
                        ItemId::DeadLetter(number).to_string(),
                    )],
                })
                .await
                .map_err(|error| error.to_string())
        })
        .await
}
