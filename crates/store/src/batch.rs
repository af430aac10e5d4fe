//! Several envelopes in one transaction: the ItemReserve (or RetailSales)
//! envelopes held at once are looked up, processed and answered together, a
//! handful of statements for the whole batch instead of a dozen or more per
//! envelope.
//!
//! Nothing about one envelope changes: each is claimed by its UUID, gets
//! its own receipt, and a rejection writes nothing (the rules decide before
//! anything is written), so a rejected envelope never fails its
//! neighbours. Two envelopes about the same UUID or the same document go to
//! different transactions, one after the other. A sale that would wait for
//! its reservations makes the batch roll back and runs alone, where waiting
//! is handled as always. When the batch's transaction fails, after its
//! immediate retries, the batch is split and each envelope runs alone
//! ([`Store::receive`]), so a failing envelope fails only itself.
//! Cancellations always run alone.

use std::collections::HashSet;

use eai_protocol::{Event, Transaction};

use crate::receive::{
    look_up_all, record_answers, reserve_all, sell_all, LookedUp, Processed, Seen,
};
use crate::{Failure, Inbound, Received, Store, StoreError, WorkerIdentity};

/// Envelopes picked for a transaction: their index and event.
type Picked = Vec<(usize, Event)>;

/// How a batch's transaction ended.
enum Together {
    /// Committed: each envelope's answer, in the batch's order.
    Answered(Vec<Received>),
    /// Rolled back: these envelopes (indexes into the batch) would wait for
    /// their reservations and must run alone.
    Waiting(Vec<usize>),
}

impl Store {
    /// Handles envelopes as [`Store::receive`] handles each, ItemReserve and
    /// RetailSales envelopes several to a transaction; one result per
    /// inbound, in their order.
    #[tracing::instrument(skip_all, fields(envelopes = inbounds.len()))]
    pub async fn receive_batch(
        &self,
        identity: &WorkerIdentity,
        inbounds: &[Inbound<'_>],
    ) -> Vec<Result<Received, StoreError>> {
        let mut results: Vec<Option<Result<Received, StoreError>>> =
            inbounds.iter().map(|_| None).collect();
        let checked: Vec<Option<(Transaction, Event)>> = inbounds
            .iter()
            .map(|inbound| inbound.envelope.validate().ok())
            .collect();
        for transaction in [Transaction::ItemReserve, Transaction::RetailSales] {
            let mut pending: Picked = checked
                .iter()
                .enumerate()
                .filter_map(|(index, checked)| match checked {
                    Some((kind, event)) if *kind == transaction => Some((index, *event)),
                    _ => None,
                })
                .collect();
            while pending.len() > 1 {
                let (round, later) = distinct(inbounds, pending);
                pending = later;
                if round.len() == 1 {
                    continue;
                }
                let together = self
                    .with_retries(|| self.receive_together(identity, inbounds, transaction, &round))
                    .await;
                match together {
                    Ok(Together::Answered(received)) => {
                        for ((index, _), received) in round.iter().zip(received) {
                            results[*index] = Some(Ok(received));
                        }
                    }
                    Ok(Together::Waiting(alone)) => {
                        // Those run alone below; the others form the next rounds.
                        let waiting: HashSet<usize> = alone
                            .into_iter()
                            .map(|position| round[position].0)
                            .collect();
                        pending.extend(
                            round
                                .into_iter()
                                .filter(|(index, _)| !waiting.contains(index)),
                        );
                        pending.sort_unstable_by_key(|(index, _)| *index);
                    }
                    Err(error) if error.failure() == Failure::Outage => {
                        let error = error.to_string();
                        for (index, _) in &round {
                            results[*index] = Some(Err(StoreError::Unavailable(error.clone())));
                        }
                    }
                    Err(error) => {
                        tracing::debug!(%error, envelopes = round.len(), "the batch failed; its envelopes run alone");
                    }
                }
            }
        }
        let mut answered = Vec::with_capacity(inbounds.len());
        for (inbound, result) in inbounds.iter().zip(results) {
            answered.push(match result {
                Some(result) => result,
                None => self.receive(identity, inbound).await,
            });
        }
        answered
    }

    /// One transaction for the envelopes of `transaction` that `round` picks
    /// out of `inbounds` (distinct UUIDs and documents).
    async fn receive_together(
        &self,
        identity: &WorkerIdentity,
        inbounds: &[Inbound<'_>],
        transaction: Transaction,
        round: &[(usize, Event)],
    ) -> Result<Together, StoreError> {
        let chosen: Vec<&Inbound<'_>> = round.iter().map(|(index, _)| &inbounds[*index]).collect();
        let mut tx = self.begin().await?;
        let LookedUp {
            seen,
            masters_version,
        } = look_up_all(&mut tx.conn(), &chosen).await?;
        let kept = self.masters.at(masters_version);
        let fresh: Vec<(usize, &Inbound<'_>, Event, i32)> = seen
            .iter()
            .zip(&chosen)
            .zip(round)
            .enumerate()
            .filter_map(|(position, ((seen, inbound), (_, event)))| match seen {
                Seen::Open(attempts) => Some((position, *inbound, *event, *attempts)),
                Seen::Answered(_) => None,
            })
            .collect();
        let processed = match transaction {
            Transaction::ItemReserve => {
                let envelopes: Vec<_> = fresh
                    .iter()
                    .map(|(_, inbound, event, _)| (inbound.envelope, *event, inbound.received_at))
                    .collect();
                reserve_all(&mut tx.conn(), kept, identity, &envelopes).await?
            }
            _ => {
                let envelopes: Vec<_> = fresh
                    .iter()
                    .map(|(_, inbound, event, _)| (inbound.envelope, *event))
                    .collect();
                sell_all(&mut tx.conn(), kept, identity, self.tolerance, &envelopes).await?
            }
        };
        let waiting: Vec<usize> = fresh
            .iter()
            .zip(&processed)
            .filter(|(_, processed)| matches!(processed, Processed::Waiting(..)))
            .map(|((position, ..), _)| *position)
            .collect();
        if !waiting.is_empty() {
            tx.rollback().await?;
            return Ok(Together::Waiting(waiting));
        }
        let answered = fresh
            .iter()
            .zip(processed)
            .map(|((_, inbound, _, attempts), processed)| {
                let (details, ids) = processed.into_answer();
                (*inbound, *attempts, details, ids)
            })
            .collect();
        let mut answers = record_answers(&mut tx.conn(), identity, self.environment, answered)
            .await?
            .into_iter();
        let received = seen
            .into_iter()
            .map(|seen| {
                match seen {
                    Seen::Answered(stored) => Some(stored),
                    Seen::Open(_) => answers.next(),
                }
                .map(Received::Answered)
                .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
            })
            .collect::<Result<Vec<Received>, StoreError>>()?;
        tx.commit().await?;
        Ok(Together::Answered(received))
    }
}

/// Splits `pending` into the envelopes that can share a transaction (the
/// first of each UUID and of each document) and those that must wait for it.
fn distinct(inbounds: &[Inbound<'_>], pending: Picked) -> (Picked, Picked) {
    let mut uuids: HashSet<&str> = HashSet::new();
    let mut documents: HashSet<(String, Option<String>)> = HashSet::new();
    pending.into_iter().partition(|(index, _)| {
        let envelope = inbounds[*index].envelope;
        let document = (envelope.namespace(), envelope.internal_id());
        uuids.insert(envelope.uuid()) && documents.insert(document)
    })
}
