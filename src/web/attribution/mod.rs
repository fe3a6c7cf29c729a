//! Attribution pages: the sales ledger (a minimal list, one sale with its
//! credit, basis and history, and a manager's reassignment) and the admins'
//! page of unmapped Fanvue team members. Credits are computed by the
//! database; these handlers never compute one.

pub mod sales;
pub mod team_members;
