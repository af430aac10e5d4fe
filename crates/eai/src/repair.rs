//! The repairs operators make, one home for the API, the console and the
//! CLI: retry, block, unblock and discard a message of the log (a retried
//! inbound error goes back on the inbound queue), and replay a dead letter.

use eai_store::log::{Acted, ItemId};
use eai_store::{Store, StoreError};

use crate::inlet::{Inlet, Submission};

/// What an operator does to one message of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An inbound error is processed again (its stored body republished,
    /// answered where its first receipt went); an outbound message is sent
    /// again now with its attempts reset.
    Retry,
    /// The sender leaves an outbound message alone.
    Block,
    Unblock,
    /// Off the pending list, with a note.
    Discard,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::Block => "block",
            Action::Unblock => "unblock",
            Action::Discard => "discard",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        [
            Action::Retry,
            Action::Block,
            Action::Unblock,
            Action::Discard,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

/// Does `action` to `id`, recording `actor` and `note`. `inlet` is needed
/// only to retry an inbound envelope.
pub async fn act(
    store: &Store,
    inlet: Option<&Inlet>,
    action: Action,
    id: ItemId,
    actor: &str,
    note: &str,
) -> Result<Acted, StoreError> {
    match (action, id) {
        (Action::Retry, ItemId::Inbound(_)) => match inlet {
            Some(inlet) => reprocess(store, inlet, id, actor, note).await,
            None => Ok(Acted::Unavailable(
                "no broker connection to publish it again".to_owned(),
            )),
        },
        (Action::Retry, _) => store.retry_outbound(id, actor, note).await,
        (Action::Block, _) => store.hold(id, actor, note).await,
        (Action::Unblock, _) => store.release(id, actor, note).await,
        (Action::Discard, _) => store.discard(id, actor, note).await,
    }
}

/// Processes an inbound envelope answered with an error again: back on the
/// inbound queue, answered where its first receipt went.
async fn reprocess(
    store: &Store,
    inlet: &Inlet,
    id: ItemId,
    actor: &str,
    note: &str,
) -> Result<Acted, StoreError> {
    store
        .reprocess(id, actor, note, |again| async move {
            inlet
                .submit(&Submission {
                    routing_key: &again.transaction,
                    body: &again.body,
                    reply_to: again.reply_to(),
                    origin: Some(("x-eai-retried-by", actor.to_owned())),
                    ..Submission::default()
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
    inlet: &Inlet,
    number: i64,
    actor: &str,
    only_open: bool,
) -> Result<Acted, StoreError> {
    store
        .replay_dead_letter(number, actor, only_open, |replay| async move {
            inlet
                .submit(&Submission {
                    exchange: Some(&replay.exchange),
                    routing_key: &replay.routing_key,
                    body: &replay.body,
                    correlation_id: replay.correlation_id.as_deref(),
                    message_id: replay.message_id.as_deref(),
                    reply_to: replay.reply_to.as_deref(),
                    origin: Some((
                        "x-eai-replayed-from",
                        ItemId::DeadLetter(number).to_string(),
                    )),
                })
                .await
                .map_err(|error| error.to_string())
        })
        .await
}
