"""The naive consumer issue 10 measured the worker against: a short Python
script, one envelope at a time, each one committed transaction of four rows
(its inbox row, a reservation, a line, its receipt) before its `ok` receipt
is published with a confirm and the envelope acked.

`eai-bench` runs it in a virtual environment of its own (pika, psycopg) on
a queue it declared, publishes `--count` envelopes to it and waits for
their receipts; the script exits once it has answered that many.
"""

import argparse
import json
import sys
import uuid
from datetime import datetime, timezone

import pika
import psycopg


def receipt(envelope):
    """The `ok` ReceiptMessage answering `envelope`."""
    header = envelope.get("Header", {})
    now = datetime.now(timezone.utc).isoformat()
    return {
        "Header": {
            "UUID": str(uuid.uuid4()),
            "Type": "ReceiptMessage",
            "Transaction": header.get("Transaction"),
            "StandardVersion": "1.000",
            "SourceApplication": "BENCH",
            "CompanyId": header.get("CompanyId"),
            "BranchId": header.get("BranchId"),
            "GeneratedOn": now,
            "DeliveryType": "async",
            "ProductName": "BENCH",
        },
        "Content": {
            "ReceivedMessage": {
                "UUID": header.get("UUID"),
                "SentBy": header.get("SourceApplication"),
                "Event": envelope.get("Content", {}).get("Event", "upsert"),
            },
            "ProcessingInformation": {
                "ProcessedOn": now,
                "Status": "ok",
                "Details": [],
            },
        },
    }


def main():
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--amqp", required=True)
    arguments.add_argument("--postgres", required=True)
    arguments.add_argument("--queue", required=True)
    arguments.add_argument("--prefetch", type=int, required=True)
    arguments.add_argument("--count", type=int, required=True)
    args = arguments.parse_args()

    database = psycopg.connect(args.postgres, autocommit=True)
    broker = pika.BlockingConnection(pika.URLParameters(args.amqp))
    consumer = broker.channel()
    consumer.basic_qos(prefetch_count=args.prefetch)
    publisher = broker.channel()
    publisher.confirm_delivery()
    print("ready", flush=True)

    answered = 0
    for method, properties, body in consumer.consume(args.queue):
        envelope = json.loads(body)
        envelope_uuid = envelope["Header"]["UUID"]
        answer = receipt(envelope)
        answer_body = json.dumps(answer).encode()
        with database.transaction():
            database.execute(
                "INSERT INTO naive_inbox (uuid, body) VALUES (%s, %s)",
                (envelope_uuid, body),
            )
            (reservation,) = database.execute(
                "INSERT INTO naive_reservations (uuid) VALUES (%s) RETURNING id",
                (envelope_uuid,),
            ).fetchone()
            database.execute(
                "INSERT INTO naive_lines (reservation_id, quantity) VALUES (%s, 1)",
                (reservation,),
            )
            database.execute(
                "INSERT INTO naive_outbox (uuid, body) VALUES (%s, %s)",
                (answer["Header"]["UUID"], answer_body),
            )
        publisher.basic_publish(
            exchange="",
            routing_key=properties.reply_to,
            body=answer_body,
            properties=pika.BasicProperties(
                delivery_mode=2,
                content_type="application/json",
                correlation_id=properties.correlation_id,
            ),
            mandatory=True,
        )
        consumer.basic_ack(method.delivery_tag)
        answered += 1
        if answered == args.count:
            break
    consumer.cancel()
    broker.close()
    database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
