//! Publishing with publisher confirms: a publish returns only once the broker
//! has taken responsibility for the message, so callers can mark the outbox
//! row done or ack the inbound delivery knowing nothing is lost.
//!
//! Every publish is bounded by a timeout (waiting for a connection, opening a
//! channel, the confirm): a silent broker makes it fail, never hang, and the
//! connection is reported to the [`Broker`] as lost.
//!
//! The broker closes a channel over one bad publish (an exchange that does
//! not exist, say): the publisher opens a fresh confirm channel when it finds
//! its channel closed or the connection replaced, so one bad destination never
//! silences everything published after it.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

use crate::{Broker, TransportError};

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

/// A confirm-mode channel on the broker's current connection.
#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    timeout: Duration,
    channel: Arc<Mutex<Option<OpenChannel>>>,
}

/// A channel and the connection it was opened on.
type OpenChannel = (Arc<Connection>, Channel);

impl Publisher {
    /// A publisher whose every publish takes at most `timeout`.
    pub fn new(broker: Broker, timeout: Duration) -> Publisher {
        Publisher {
            broker,
            timeout,
            channel: Arc::new(Mutex::new(None)),
        }
    }

    /// Publishes persistently and waits for the broker's confirm. When
    /// `mandatory`, a message no queue would take comes back as
    /// [`TransportError::Unroutable`] instead of vanishing.
    pub async fn publish(&self, message: &Outgoing<'_>) -> Result<(), TransportError> {
        let connection = tokio::time::timeout(self.timeout, self.broker.connection())
            .await
            .map_err(|_| TransportError::Timeout {
                address: self.broker.address(),
                what: "waiting for a broker connection",
                after: self.timeout,
            })?;
        let attempt = self.publish_on(&connection, message);
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => {
                self.broker.report_lost(&connection);
                Err(TransportError::Timeout {
                    address: self.broker.address(),
                    what: "waiting for the publish confirm",
                    after: self.timeout,
                })
            }
        }
    }

    async fn publish_on(
        &self,
        connection: &Arc<Connection>,
        message: &Outgoing<'_>,
    ) -> Result<(), TransportError> {
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(correlation_id) = message.correlation_id {
            properties = properties.with_correlation_id(short("correlation_id", correlation_id)?);
        }
        if let Some(message_id) = message.message_id {
            properties = properties.with_message_id(short("message_id", message_id)?);
        }
        if let Some(reply_to) = message.reply_to {
            properties = properties.with_reply_to(short("reply_to", reply_to)?);
        }
        if !message.headers.is_empty() {
            let mut headers = FieldTable::default();
            for (key, value) in &message.headers {
                headers.insert(
                    short("header name", key)?,
                    AMQPValue::LongString(value.as_str().into()),
                );
            }
            properties = properties.with_headers(headers);
        }
        let exchange = short("exchange", message.exchange)?;
        let routing_key = short("routing key", message.routing_key)?;
        let confirmation = self
            .channel(connection)
            .await?
            .basic_publish(
                exchange,
                routing_key,
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

    /// The channel for `connection`, opened afresh when the broker closed the
    /// previous one or the connection was replaced.
    async fn channel(&self, connection: &Arc<Connection>) -> Result<Channel, TransportError> {
        let mut current = self.channel.lock().await;
        if let Some((opened_on, channel)) = current.as_ref() {
            if Arc::ptr_eq(opened_on, connection) && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        *current = Some((Arc::clone(connection), channel.clone()));
        Ok(channel)
    }
}

/// An AMQP short string (at most 255 bytes): a longer value is an error to
/// report, never the panic lapin's own conversion would be.
fn short(field: &'static str, value: &str) -> Result<ShortString, TransportError> {
    ShortString::try_new(value).map_err(|_| TransportError::TooLong {
        field,
        bytes: value.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_longer_than_an_amqp_short_string_is_an_error_not_a_panic() {
        assert!(short("routing key", &"k".repeat(255)).is_ok());
        let error = short("correlation_id", &"é".repeat(128)).expect_err("256 bytes");
        assert_eq!(
            error.to_string(),
            "the correlation_id of a message is 256 bytes long; AMQP allows 255"
        );
    }
}
