//! A mixed stream of envelopes as a platform sends them — reservations, the
//! sales that consume them, some cancellations, some refused envelopes —
//! built on the seed 001 case 10.4.6 shapes, for the tests that push
//! thousands of envelopes through a worker.

use serde_json::Value;

pub use eai_store::testing::envelopes::{bulk_stock, cancellation, reservation, sale, ITEM};

/// One envelope of a stream.
#[derive(Debug, Clone)]
pub struct StreamEnvelope {
    pub uuid: String,
    pub transaction: &'static str,
    pub body: Vec<u8>,
}

impl StreamEnvelope {
    fn new(transaction: &'static str, envelope: Value) -> StreamEnvelope {
        StreamEnvelope {
            uuid: envelope["Header"]["UUID"]
                .as_str()
                .expect("stream envelopes have a UUID")
                .to_owned(),
            transaction,
            body: envelope.to_string().into_bytes(),
        }
    }
}

/// `pairs` reservation + sale pairs (`run` keeps the ids of two streams
/// apart); every tenth sale is cancelled and every seventh pair also brings
/// a reservation of an unknown product, refused with `PRODUCT_NOT_FOUND`.
pub fn mixed(run: &str, pairs: usize) -> Vec<StreamEnvelope> {
    let mut stream = Vec::new();
    for index in 0..pairs {
        let reserve_id = format!("{run}-r{index}");
        let sale_id = format!("{run}-s{index}");
        stream.push(StreamEnvelope::new(
            "ItemReserve",
            reservation(&reserve_id, ITEM, 1),
        ));
        stream.push(StreamEnvelope::new(
            "RetailSales",
            sale(&sale_id, &format!("{run}-{index}"), &reserve_id),
        ));
        if index % 10 == 9 {
            stream.push(StreamEnvelope::new(
                "RetailSalesCancellation",
                cancellation(&sale_id),
            ));
        }
        if index % 7 == 3 {
            stream.push(StreamEnvelope::new(
                "ItemReserve",
                reservation(&format!("{run}-bad{index}"), "no-such-product", 1),
            ));
        }
    }
    stream
}
