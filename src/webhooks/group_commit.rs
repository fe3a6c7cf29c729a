//! Group commit for webhook intake. Every accepted delivery must be durable
//! before its request answers 2xx, but one transaction per delivery makes
//! the commit (parse, plan, WAL flush) the cost of each request. Requests
//! hand their event to a queue instead; a collector takes everything that
//! queued up while the previous statement ran and stores it with one
//! multi-row `INSERT … ON CONFLICT DO NOTHING`. Each request still waits for
//! the commit that holds its own row before it answers.
//!
//! A failed batch is retried row by row, so one bad delivery (say, JSON that
//! Postgres will not take as `jsonb`) fails alone and the rest are stored.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::store::webhooks::{self, Intake, NewEvent};

/// Deliveries queued beyond this make senders wait (back-pressure, not loss).
const QUEUE: usize = 8_192;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("could not store the delivery: {0}")]
    Failed(String),
    #[error("the intake writer has stopped")]
    Stopped,
}

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<Intake, IntakeError>>,
}

/// The request side: cheap to clone, one per application.
#[derive(Clone)]
pub struct IntakeWriter {
    tx: mpsc::Sender<Job>,
}

impl IntakeWriter {
    /// Starts the collector on the current Tokio runtime. `in_flight` is
    /// how many batch statements may run at once (one collects while another
    /// commits); `max_batch` caps the rows per statement.
    pub fn spawn(pool: PgPool, in_flight: usize, max_batch: usize) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(collect(pool, rx, in_flight.max(1), max_batch.max(1)));
        Self { tx }
    }

    /// Stores one delivery; returns once the statement holding it committed.
    pub async fn store(&self, event: NewEvent) -> Result<Intake, IntakeError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { event, reply })
            .await
            .map_err(|_| IntakeError::Stopped)?;
        answer.await.map_err(|_| IntakeError::Stopped)?
    }
}

async fn collect(pool: PgPool, mut rx: mpsc::Receiver<Job>, in_flight: usize, max_batch: usize) {
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut jobs = Vec::with_capacity(max_batch);
    loop {
        // Wait for a free statement slot first: while every slot is busy,
        // deliveries keep queueing and the next batch grows.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        if rx.recv_many(&mut jobs, max_batch).await == 0 {
            return; // every sender is gone: the application stopped
        }
        let batch = std::mem::replace(&mut jobs, Vec::with_capacity(max_batch));
        let pool = pool.clone();
        tokio::spawn(async move {
            write(&pool, batch).await;
            drop(permit);
        });
    }
}

/// Stores one batch and answers every job in it.
async fn write(pool: &PgPool, batch: Vec<Job>) {
    // A key repeated inside one batch is stored once; the repeats answer as
    // duplicates of it (or share its error).
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
    let mut unique: Vec<&NewEvent> = Vec::with_capacity(batch.len());
    let mut slot: Vec<usize> = Vec::with_capacity(batch.len());
    for job in &batch {
        let key = job.event.dedupe_key.as_str();
        match first.get(key) {
            Some(&i) => slot.push(i),
            None => {
                first.insert(key, unique.len());
                slot.push(unique.len());
                unique.push(&job.event);
            }
        }
    }
    let results: Vec<Result<Intake, String>> = match webhooks::insert_many(pool, &unique).await {
        Ok(filed) => filed.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(error = %e, rows = unique.len(), "webhook batch insert failed; storing one by one");
            let mut each = Vec::with_capacity(unique.len());
            for event in &unique {
                each.push(
                    webhooks::insert_many(pool, &[event])
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|filed| {
                            filed
                                .first()
                                .copied()
                                .ok_or_else(|| "no answer for the row".to_owned())
                        }),
                );
            }
            each
        }
    };
    let mut answered = vec![false; unique.len()];
    for (job, i) in batch.into_iter().zip(slot) {
        let result = match &results[i] {
            Ok(_) if answered[i] => Ok(Intake::Duplicate),
            Ok(intake) => Ok(*intake),
            Err(e) => Err(IntakeError::Failed(e.clone())),
        };
        answered[i] = true;
        // The request may have gone (client hung up); its row is stored anyway.
        let _ = job.reply.send(result);
    }
}
