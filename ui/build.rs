//! Rebuilds the gateway when the dashboard's built assets change (a new
//! hashed file is not otherwise seen by `rust-embed`'s derive).
fn main() {
    println!("cargo:rerun-if-changed=assets");
}
