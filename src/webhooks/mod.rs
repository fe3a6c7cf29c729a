//! Fanvue webhooks (DESIGN §5.1, invariant 3): `receive` verifies, dedupes
//! and commits each delivery before answering 2xx — no API call and no
//! mirror write in the request; `process` applies stored events to the
//! mirror afterwards, idempotently, with retries and dead letters;
//! `group_commit` stores concurrent deliveries with one statement per batch.

pub mod events;
pub mod group_commit;
pub mod process;
pub mod receive;
pub mod signature;
