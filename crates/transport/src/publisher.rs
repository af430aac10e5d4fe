//! Publishing with publisher confirms: a publish returns only once the broker
//! has taken responsibility for the message, so callers can mark the outbox
//! row done or ack the inbound delivery knowing nothing is lost.

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

/// A confirm-mode channel.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    /// Opens a channel on `connection` and switches it to confirm mode.
    pub async fn open(connection: &Connection) -> Result<Publisher, TransportError> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
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
            .channel
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
