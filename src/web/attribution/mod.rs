//! Attribution pages: the sales ledger (a minimal list, one sale with its
//! credit, basis and history, and a manager's reassignment) and the admins'
//! page of unmapped Fanvue team members, and the Fanvue cross-check (the
//! ledger's totals beside the earnings feed's). Credits are computed by the
//! database; these handlers never compute one.

pub mod cross_check;
pub mod sales;
pub mod team_members;
