//! HTTP pieces shared by the staff web face and webhook intake, so neither
//! imports the other.

pub mod client_ip;
