//! Several envelopes in one transaction: ItemReserve envelopes held at once
//! are claimed, reserved and answered together, a handful of statements for
//! the whole batch instead of a dozen per envelope.
//!
//! Nothing about one envelope changes: each is claimed by its UUID, gets
//! its own receipt, and a rejection writes nothing (the reservation rules
//! decide before anything is written), so a rejected envelope never fails
//! its neighbours. Two envelopes about the same UUID or the same reservation
//! go to different transactions, one after the other. When the batch's
//! transaction fails, after its immediate retries, the batch is split and
//! each envelope runs alone ([`Store::receive`]), so a failing envelope
//! fails only itself. Other transactions always run alone.

use std::collections::HashSet;

use eai_protocol::{Event, Transaction};

use crate::receive::{claim_all, record_answers, reserve_all};
use crate::{Failure, Inbound, Received, Store, StoreError, WorkerIdentity};

impl Store {
    /// Handles envelopes as [`Store::receive`] handles each, ItemReserve
    /// envelopes several to a transaction; one result per inbound, in their
    /// order.
    #[tracing::instrument(skip_all, fields(envelopes = inbounds.len()))]
    pub async fn receive_batch(
        &self,
        identity: &WorkerIdentity,
        inbounds: &[Inbound<'_>],
    ) -> Vec<Result<Received, StoreError>> {
        let mut results: Vec<Option<Result<Received, StoreError>>> =
            inbounds.iter().map(|_| None).collect();
        let mut pending: Picked = inbounds
            .iter()
            .enumerate()
            .filter_map(|(index, inbound)| match inbound.envelope.validate() {
                Ok((Transaction::ItemReserve, event)) => Some((index, event)),
                _ => None,
            })
            .collect();
        while pending.len() > 1 {
            let (round, later) = distinct(inbounds, pending);
            pending = later;
            if round.len() == 1 {
                continue;
            }
            match self
                .with_retries(|| self.receive_together(identity, inbounds, &round))
                .await
            {
                Ok(received) => {
                    for ((index, _), received) in round.iter().zip(received) {
                        results[*index] = Some(Ok(received));
                    }
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
        let mut answered = Vec::with_capacity(inbounds.len());
        for (inbound, result) in inbounds.iter().zip(results) {
            answered.push(match result {
                Some(result) => result,
                None => self.receive(identity, inbound).await,
            });
        }
        answered
    }

    /// One transaction for the ItemReserve envelopes `round` picks out of
    /// `inbounds` (distinct UUIDs and reservations).
    async fn receive_together(
        &self,
        identity: &WorkerIdentity,
        inbounds: &[Inbound<'_>],
        round: &[(usize, Event)],
    ) -> Result<Vec<Received>, StoreError> {
        let chosen: Vec<&Inbound<'_>> = round.iter().map(|(index, _)| &inbounds[*index]).collect();
        let mut tx = self.pool.begin().await?;
        let claimed = claim_all(&mut tx, &chosen, self.environment).await?;
        let fresh: Vec<(&Inbound<'_>, Event)> = claimed
            .iter()
            .zip(&chosen)
            .zip(round)
            .filter(|((stored, _), _)| stored.is_none())
            .map(|((_, inbound), (_, event))| (*inbound, *event))
            .collect();
        let envelopes: Vec<_> = fresh
            .iter()
            .map(|(inbound, event)| (inbound.envelope, *event, inbound.received_at))
            .collect();
        let processed = reserve_all(&mut tx, identity, &envelopes).await?;
        let answered = fresh
            .iter()
            .zip(processed)
            .map(|((inbound, _), (details, ids))| (*inbound, details, ids))
            .collect();
        let mut answers = record_answers(&mut tx, identity, answered)
            .await?
            .into_iter();
        let received = claimed
            .into_iter()
            .map(|stored| {
                stored
                    .or_else(|| answers.next())
                    .map(Received::Answered)
                    .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
            })
            .collect::<Result<Vec<Received>, StoreError>>()?;
        tx.commit().await?;
        Ok(received)
    }
}

/// Envelopes picked for a transaction: their index and event.
type Picked = Vec<(usize, Event)>;

/// Splits `pending` into the envelopes that can share a transaction (the
/// first of each UUID and of each reservation) and those that must wait for it.
fn distinct(inbounds: &[Inbound<'_>], pending: Picked) -> (Picked, Picked) {
    let mut uuids: HashSet<&str> = HashSet::new();
    let mut documents: HashSet<(String, Option<String>)> = HashSet::new();
    pending.into_iter().partition(|(index, _)| {
        let envelope = inbounds[*index].envelope;
        let document = (envelope.namespace(), envelope.internal_id());
        uuids.insert(envelope.uuid()) && documents.insert(document)
    })
}
