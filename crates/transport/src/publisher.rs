//! Publishing with publisher confirms: a publish returns only once the broker
//! has taken responsibility for the message, so callers can mark the outbox
//! row done or ack the inbound delivery knowing nothing is lost.
//!
//! The broker closes a channel over one bad publish (an exchange that does
//! not exist, say), and lapin recovers connections, not channels closed that
//! way: the publisher opens a fresh confirm channel when it finds its channel
//! closed, so one bad destination never silences everything published after it.

use std::sync::{Arc, Mutex};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};

use crate::TransportError;

/// A message to publish.
#[derive(Debug, Clone, Default)]
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub correlation_id: Option<&'a str>,
    pub message_id: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    /// Ask the broker to return the message if no queue takes it.
    pub mandatory: bool,
    /// String headers, e.g. the dead-letter reason.
    pub headers: Vec<(&'a str, String)>,
}

/// A confirm-mode channel that reopens itself after the broker closed it.
#[derive(Clone)]
pub struct Publisher {
    connection: Arc<Connection>,
    channel: Arc<Mutex<Channel>>,
}

impl Publisher {
    /// Opens a confirm-mode channel on `connection`.
    pub async fn open(connection: Arc<Connection>) -> Result<Publisher, TransportError> {
        let channel = confirm_channel(&connection).await?;
        Ok(Publisher {
            connection,
            channel: Arc::new(Mutex::new(channel)),
        })
    }

    /// The current channel, or a fresh one when the broker closed it (while the
    /// connection itself recovers, lapin restores the channel and it is kept).
    async fn channel(&self) -> Result<Channel, TransportError> {
        let current = self
            .channel
            .lock()
            .map_err(|_| TransportError::Poisoned)?
            .clone();
        let status = current.status();
        if status.connected() || status.reconnecting() || status.initializing() {
            return Ok(current);
        }
        tracing::info!("the publishing channel was closed; opening a new one");
        let fresh = confirm_channel(&self.connection).await?;
        *self.channel.lock().map_err(|_| TransportError::Poisoned)? = fresh.clone();
        Ok(fresh)
    }

    /// Publishes persistently and waits for the broker's confirm. When
    /// `mandatory`, a message no queue would take comes back as
    /// [`TransportError::Unroutable`] instead of vanishing.
    pub async fn publish(&self, message: &Outgoing<'_>) -> Result<(), TransportError> {
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(correlation_id) = message.correlation_id {
            properties = properties.with_correlation_id(correlation_id.into());
        }
        if let Some(message_id) = message.message_id {
            properties = properties.with_message_id(message_id.into());
        }
        if let Some(reply_to) = message.reply_to {
            properties = properties.with_reply_to(reply_to.into());
        }
        if !message.headers.is_empty() {
            let mut headers = FieldTable::default();
            for (key, value) in &message.headers {
                headers.insert((*key).into(), AMQPValue::LongString(value.as_str().into()));
            }
            properties = properties.with_headers(headers);
        }
        let confirmation = self
            .channel()
            .await?
            .basic_publish(
                message.exchange.into(),
                message.routing_key.into(),
                BasicPublishOptions {
                    mandatory: message.mandatory,
                    ..BasicPublishOptions::default()
                },
                message.body,
                properties,
            )
            .await?
            .await?;
        if confirmation.is_nack() {
            return Err(TransportError::Nacked {
                exchange: message.exchange.to_owned(),
            });
        }
        if let Some(returned) = confirmation.take_message() {
            return Err(TransportError::Unroutable {
                exchange: message.exchange.to_owned(),
                routing_key: message.routing_key.to_owned(),
                reason: returned.reply_text.to_string(),
            });
        }
        Ok(())
    }
}

async fn confirm_channel(connection: &Connection) -> Result<Channel, TransportError> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}
