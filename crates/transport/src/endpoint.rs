//! Where the broker is and how long to wait for it.
//!
//! One connection attempt is bounded as a whole — TCP connect, TLS and the
//! AMQP handshake — so an address that accepts TCP and never speaks AMQP (a
//! load balancer without a backend) fails the attempt instead of hanging it.
//! The heartbeat we ask for makes lapin notice a silent peer after two missed
//! intervals.

use std::time::Duration;

use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

use crate::TransportError;

/// A broker address with its timeouts. The URL holds credentials: it is never
/// logged or printed; [`Endpoint::address`] is what messages show.
#[derive(Clone)]
pub struct Endpoint {
    uri: AMQPUri,
    /// The connection name shown in the broker's management UI.
    name: String,
    connect_timeout: Duration,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address())
            .field("name", &self.name)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Endpoint {
    /// Parses `url` (`amqp://user:pass@host:port/vhost`). A `heartbeat` query
    /// parameter in the URL wins over `heartbeat`; `Duration::ZERO` turns the
    /// heartbeat off.
    pub fn new(
        url: &str,
        name: &str,
        connect_timeout: Duration,
        heartbeat: Duration,
    ) -> Result<Endpoint, TransportError> {
        let mut uri: AMQPUri = url.parse().map_err(|reason: String| {
            TransportError::InvalidUrl(reason.replace(url, "<the AMQP URL>"))
        })?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(u16::try_from(heartbeat.as_secs()).unwrap_or(u16::MAX));
        }
        if uri.query.connection_timeout.is_none() {
            uri.query.connection_timeout =
                Some(u64::try_from(connect_timeout.as_millis()).unwrap_or(u64::MAX));
        }
        Ok(Endpoint {
            uri,
            name: name.to_owned(),
            connect_timeout,
        })
    }

    /// `host:port`, for messages: it names the server without the credentials.
    pub fn address(&self) -> String {
        format!("{}:{}", self.uri.authority.host, self.uri.authority.port)
    }

    /// The heartbeat interval asked of the broker (it may choose a shorter one).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.uri.query.heartbeat.map_or(0, u64::from))
    }

    /// How long one attempt may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// One attempt, bounded by the connect timeout. Recovery is ours
    /// ([`crate::Broker`]), not lapin's.
    pub async fn connect(&self) -> Result<Connection, TransportError> {
        let properties =
            ConnectionProperties::default().with_connection_name(self.name.as_str().into());
        let attempt = Connection::connect_uri(self.uri.clone(), properties);
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(TransportError::Unreachable {
                address: self.address(),
                reason: error.to_string(),
            }),
            Err(_) => Err(TransportError::Unreachable {
                address: self.address(),
                reason: format!(
                    "no AMQP handshake within {} ms (is something else listening there?)",
                    self.connect_timeout.as_millis()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_names_host_and_port_without_credentials() {
        let endpoint = Endpoint::new(
            "amqp://guest:s3cret@broker.example:5673/%2f",
            "test",
            Duration::from_secs(5),
            Duration::from_secs(10),
        )
        .expect("valid URL");
        assert_eq!(endpoint.address(), "broker.example:5673");
        assert!(!format!("{endpoint:?}").contains("s3cret"));
        assert_eq!(endpoint.heartbeat(), Duration::from_secs(10));
    }

    #[test]
    fn a_heartbeat_in_the_url_wins() {
        let endpoint = Endpoint::new(
            "amqp://localhost/%2f?heartbeat=3",
            "test",
            Duration::from_secs(5),
            Duration::from_secs(10),
        )
        .expect("valid URL");
        assert_eq!(endpoint.heartbeat(), Duration::from_secs(3));
    }

    #[test]
    fn a_bad_url_does_not_echo_its_credentials() {
        let error = Endpoint::new(
            "amqp://guest:s3cret@host:notaport/",
            "test",
            Duration::from_secs(5),
            Duration::from_secs(10),
        )
        .expect_err("not a URL");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
