//! The receipts destinations send back (`eai.receipts.in`): each settles the
//! message it names — also after that message's attempt timed out, so a late
//! receipt still turns `not_delivered` into `done`. A receipt is acked once
//! the database has it; one the database could not record goes back to the
//! queue after a pause, or — when the database refuses it for good (a NUL in
//! the UUID it names, say) — to the dead-letter exchange; both are counted.

use std::future::Future;
use std::time::Duration;

use eai_protocol::receipt_status;
use eai_store::{Failure, Store};
use eai_transport::lapin::message::Delivery;
use eai_transport::{Handler, Settle};
use tokio_util::sync::CancellationToken;

use super::amqp::correlated_destination;
use crate::metrics::{DestinationReceiptFailed, Metrics};

/// How long a receipt that could not be recorded waits before it is requeued,
/// so a database outage is not a hot redelivery loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

/// Settles messages from the receipts their destinations send back.
pub struct DestinationReceipts {
    pub store: Store,
    pub metrics: Metrics,
    pub shutdown: CancellationToken,
}

impl Handler for DestinationReceipts {
    fn handle(&self, delivery: &Delivery) -> impl Future<Output = Settle> + Send {
        self.settle(delivery)
    }
}

impl DestinationReceipts {
    /// Settles the message a receipt names.
    async fn settle(&self, delivery: &Delivery) -> Settle {
        let Some(receipt) = receipt_status(&delivery.data) else {
            tracing::warn!("ignored a message on the receipts queue that is not a ReceiptMessage");
            return Settle::Ack;
        };
        let correlation = delivery
            .properties
            .correlation_id()
            .as_ref()
            .map(|id| id.to_string());
        let destination = correlation
            .as_deref()
            .and_then(|id| correlated_destination(id, &receipt.received_uuid));
        let settled = self
            .store
            .settle_by_receipt(
                &receipt.received_uuid,
                destination,
                receipt.ok,
                &receipt.message,
            )
            .await;
        match settled {
            Ok(status) => {
                tracing::info!(uuid = %receipt.received_uuid, ?status, "destination receipt");
                Settle::Ack
            }
            Err(error) => {
                let permanent = error.failure() == Failure::Permanent;
                DestinationReceiptFailed {
                    error: &error.to_string(),
                    dead_lettered: permanent,
                }
                .emit(&self.metrics);
                if permanent {
                    return Settle::Reject;
                }
                tokio::select! {
                    () = self.shutdown.cancelled() => {}
                    () = tokio::time::sleep(REQUEUE_PAUSE) => {}
                }
                Settle::Requeue
            }
        }
    }
}
