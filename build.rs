//! `sqlx::migrate!` embeds `migrations/` at compile time, but Cargo does not
//! know to rebuild when a migration is added; this tells it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
