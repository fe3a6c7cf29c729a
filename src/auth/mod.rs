//! Staff authentication building blocks with no HTTP: password hashing and
//! random tokens. The login flow itself is in `web::auth`.

pub mod password;
pub mod token;
